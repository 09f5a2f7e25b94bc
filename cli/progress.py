"""The live view of a run on stderr: the graph by layer, each task's state and duration, and the tail of the
running tasks' logs. On a terminal it redraws in place (rich Live); otherwise it prints one line per change,
so CI logs stay readable. Rendering never touches the store or the executor."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from wishstar.cli.common import ICONS
from wishstar.engine.compiler.types import Plan
from wishstar.engine.runner import Snapshot
from wishstar.engine.scheduler.state import TaskState
from wishstar.engine.spec.durations import format_duration

TAIL_LINES = 6


def duration(state: TaskState, now: float) -> str:
    if state.started_at is None:
        return ""
    end = state.finished_at if state.finished_at is not None else now
    return format_duration(max(0.0, end - state.started_at))


def _layer_of(plan: Plan) -> dict[str, str]:
    out = {name: f"{i + 1}" for i, layer in enumerate(plan.layers) for name in layer}
    out.update({name: "finally" for name in plan.finally_tasks})
    return out


def render(plan: Plan, snap: Snapshot) -> RenderableType:
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    for column in ("", "task", "layer", "status", "time", "needs / reason"):
        table.add_column(column, overflow="fold")
    layers = _layer_of(plan)
    for task in plan.all_tasks():
        st = snap.state.task(task.name)
        icon, style = ICONS[st.status]
        note = st.reason or (", ".join(task.needs) if task.needs else "")
        attempt = f" (attempt {st.attempts})" if st.attempts > 1 else ""
        table.add_row(Text(icon, style=style), escape(task.name), layers[task.name],
                      Text(st.status + attempt, style=style), duration(st, snap.now), escape(note))
    parts: list[RenderableType] = [table]
    for name, lines in snap.tails.items():
        if snap.state.task(name).status != "running" or not lines:
            continue
        parts.append(Text(f"── {name} ──", style="cyan"))
        for line in lines[-TAIL_LINES:]:
            parts.append(Text("  " + line[:200], style="dim"))
    return Group(*parts)


class ProgressView:
    """Receives snapshots from the runner and shows them."""

    def __init__(self, plan: Plan, console: Console, *, enabled: bool = True) -> None:
        self.plan = plan
        self.console = console
        self.live: Live | None = None
        self.enabled = enabled
        self.interactive = console.is_terminal and enabled
        self._seen: dict[str, str] = {}

    def __enter__(self) -> ProgressView:
        if self.interactive:
            self.live = Live(console=self.console, refresh_per_second=8, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def __call__(self, snap: Snapshot) -> None:
        if not self.enabled:
            return
        if self.live is not None:
            self.live.update(render(self.plan, snap))
            return
        for name, st in snap.state.tasks.items():
            if self._seen.get(name) == st.status or (st.status == "pending" and name not in self._seen):
                self._seen.setdefault(name, st.status)
                continue
            self._seen[name] = st.status
            icon, _ = ICONS[st.status]
            extra = f" ({st.reason})" if st.reason and st.status != "succeeded" else ""
            took = duration(st, snap.now)
            self.console.print(f"{icon} {escape(name)} {st.status}{' in ' + took if took and st.done else ''}"
                               f"{escape(extra)}", highlight=False)
