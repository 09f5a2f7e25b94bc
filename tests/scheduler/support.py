"""Plans from YAML text and a driver for the pure scheduler; the clock is a plain float."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wishstar.engine.compiler.build import compile_pipeline
from wishstar.engine.compiler.types import Plan, RunContext
from wishstar.engine.scheduler.decide import Action, Cancel, Decision, Finish, Start, decide, finished, initial_state
from wishstar.engine.scheduler.state import RunState
from wishstar.engine.spec.validate import validate_text


def plan_of(text: str) -> Plan:
    pipeline, _ = validate_text(textwrap.dedent(text), ".wishstar.yaml", lambda _t: None, ())
    return compile_pipeline(pipeline, RunContext(), lambda _n, _w: None)  # type: ignore[arg-type,return-value]


def facts(git: Mapping[str, str] | None = None):  # type: ignore[no-untyped-def]
    def build(state: RunState) -> dict[str, Any]:
        tasks = {n: {"status": s.status, "results": dict(s.results)} for n, s in state.tasks.items()}
        return {"git": dict(git or {"branch": "main"}), "event": "push", "params": {}, "tasks": tasks,
                "context": {}}
    return build


@dataclass
class Run:
    """Drives decide() and finished() the way the runner does, recording every action."""

    plan: Plan
    now: float = 0.0
    limit: int = 100
    git: Mapping[str, str] | None = None
    state: RunState = field(init=False)
    actions: list[Action] = field(default_factory=list)
    last: Decision | None = None

    def __post_init__(self) -> None:
        self.state = initial_state(self.plan, self.now)

    def decide(self) -> list[Action]:
        self.last = decide(self.plan, self.state, self.now, facts(self.git), self.limit)
        self.state = self.last.state
        self.actions.extend(self.last.actions)
        return list(self.last.actions)

    def started(self) -> list[str]:
        return [a.task for a in self.decide() if isinstance(a, Start)]

    def finish(self, name: str, ok: bool = True, results: Mapping[str, str] | None = None,
               cancelled: bool = False) -> None:
        """End the attempt of ``name``: ok, failed ("exit 1"), or cancelled (the scheduler words the reason)."""
        self.state = finished(self.plan, self.state, name, succeeded=ok, now=self.now, exit_code=0 if ok else 1,
                              reason=None if ok or cancelled else "exit 1", results=results or {},
                              cancelled=cancelled)

    def status(self, name: str) -> str:
        return self.state.task(name).status

    def reason(self, name: str) -> str | None:
        return self.state.task(name).reason

    def finish_action(self) -> Finish | None:
        return next((a for a in self.actions if isinstance(a, Finish)), None)

    def cancels(self) -> list[Cancel]:
        return [a for a in self.actions if isinstance(a, Cancel)]
