"""Run state as the scheduler sees it: plain immutable records, replaced (never mutated) on every change.

Task and run statuses are ``engine.status``'s. A pending task may carry ``retry_at``
(waiting out a backoff). Pure data; the runner persists it through the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from wishstar.engine.status import ENDED_TASK_STATUSES, RunStatus, TaskStatus


@dataclass(frozen=True)
class TaskState:
    status: TaskStatus = "pending"
    attempts: int = 0
    reason: str | None = None
    exit_code: int | None = None
    results: Mapping[str, str] = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None
    retry_at: float | None = None

    @property
    def done(self) -> bool:
        return self.status in ENDED_TASK_STATUSES


@dataclass(frozen=True)
class RunState:
    """Everything the scheduler decides from, besides the plan and the clock."""

    tasks: Mapping[str, TaskState]
    started_at: float
    status: RunStatus = "running"
    reason: str | None = None
    cancel_requested: bool = False
    forced: bool = False
    """The cancellation is forced: every running task is cancelled, finally tasks too, nothing more starts."""
    timed_out: bool = False

    def task(self, name: str) -> TaskState:
        return self.tasks[name]

    def with_task(self, name: str, **changes: object) -> RunState:
        tasks = dict(self.tasks)
        tasks[name] = replace(tasks[name], **changes)  # type: ignore[arg-type]
        return replace(self, tasks=tasks)
