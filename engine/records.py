"""The run store's rows as the rest of Wishstar reads them: one frozen record per kind of row.

Why: the store's read API (``Store.get_run``, ``Store.list_runs``) returns these instead of dicts read key by
key, so a typo in a field name is a type error and every reader (the pure resume code, the runner, the server,
the CLI) sees the same typed fields. The public JSON shape (``wishstar runs show --output json``, the HTTP API)
is produced from them in one place, ``engine.store.shape``. Must hold no behaviour beyond small lookups: no
queries, no clock, no rendering (timestamps stay epoch seconds, as stored). Pure, so ``engine.resume`` may
import it; it imports nothing of Wishstar but the status vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wishstar.engine.status import RunStatus, TaskStatus


@dataclass(frozen=True)
class StepRecord:
    """One step of one task attempt (``bytes``: what reached its log; ``log_path`` None: no log file)."""

    task: str
    attempt: int
    name: str
    position: int
    exit_code: int | None
    started_at: float | None
    finished_at: float | None
    log_path: str | None
    truncated: bool
    bytes: int


@dataclass(frozen=True)
class TaskRecord:
    """One task instance of a run (a matrix instance is its own task; ``base`` names the pipeline task), with
    the steps of all its attempts in order."""

    name: str
    base: str
    is_finally: bool
    status: TaskStatus
    reason: str | None
    attempts: int
    exit_code: int | None
    results: Mapping[str, str]
    started_at: float | None
    finished_at: float | None
    position: int
    steps: tuple[StepRecord, ...] = ()

    def last_attempt_steps(self) -> tuple[StepRecord, ...]:
        """The steps of the highest attempt recorded (none when no step was)."""
        last = max((s.attempt for s in self.steps), default=None)
        return tuple(s for s in self.steps if s.attempt == last)


@dataclass(frozen=True)
class RunSummary:
    """A run without its tasks and params: one line of ``runs list``."""

    id: str
    pipeline: str
    number: int
    status: RunStatus
    reason: str | None
    event: str | None
    branch: str | None
    git: Mapping[str, Any]
    """The git context the run was started with (branch, commit, message, author, mr_iid...)."""
    created_at: float
    started_at: float | None
    finished_at: float | None

    @property
    def commit(self) -> str | None:
        commit = self.git.get("commit")
        return str(commit) if commit is not None else None


@dataclass(frozen=True)
class RunRecord(RunSummary):
    """A run with its params and its tasks in plan order."""

    params: Mapping[str, Any]
    tasks: tuple[TaskRecord, ...] = ()

    def task(self, name: str) -> TaskRecord | None:
        return next((t for t in self.tasks if t.name == name), None)

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]
