"""The member tasks of a chain that ran as one Pod (``engine.compiler.placement``), as task states of their own.

Why: ``runs show`` and finally tasks (``$(tasks.build.status)``) speak of the tasks in the pipeline file, not of
the merged task the scheduler ran. After the merged task ends, each member's state follows from its steps' exit
codes: a member succeeded when all its steps exited 0 (or were allowed to fail); the first member that did not
takes the merged task's status and reason; the members after it were skipped. Pure: no clock, no store.
"""

from __future__ import annotations

from collections.abc import Mapping

from wishstar.engine.compiler.types import TaskPlan
from wishstar.engine.scheduler.state import TaskState

LATER_SKIPPED = "an earlier task in its Pod failed"


def member_states(group: TaskPlan, state: TaskState, exit_codes: Mapping[str, int | None]) -> dict[str, TaskState]:
    """Each member's state, from the merged task's final ``state`` and its steps' exit codes by step name."""
    out: dict[str, TaskState] = {}
    broken: str | None = None
    for member in group.members:
        results = {k[len(member) + 1:]: v for k, v in state.results.items() if k.startswith(f"{member}.")}
        common = {"attempts": state.attempts, "started_at": state.started_at, "finished_at": state.finished_at}
        if state.status == "skipped":
            out[member] = TaskState(status="skipped", reason=state.reason, finished_at=state.finished_at)
            continue
        if broken is not None:
            out[member] = TaskState(status="skipped", reason=LATER_SKIPPED, finished_at=state.finished_at)
            continue
        steps = [s for s in group.steps if s.name.startswith(f"{member}.")]
        ok = all(exit_codes.get(s.name) == 0 or (s.on_error == "continue" and exit_codes.get(s.name) is not None)
                 for s in steps)
        if state.status == "succeeded" or (ok and state.status != "running"):
            out[member] = TaskState(status="succeeded", exit_code=0, results=results, **common)  # type: ignore[arg-type]
            continue
        broken = member
        out[member] = TaskState(status=state.status, reason=state.reason, exit_code=state.exit_code,
                                results=results, **common)  # type: ignore[arg-type]
    return out
