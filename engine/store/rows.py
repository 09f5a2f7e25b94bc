"""Table rows as the store's records (``engine.records``): the one place a row's columns become fields.

Why: ``Store`` and the queries built elsewhere in the store (``visibility``) return the same records from
the same columns. Must not query: callers hand in the rows they selected.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from wishstar.engine.records import RunSummary, StepRecord, TaskRecord
from wishstar.engine.status import RunStatus, TaskStatus


def summary_fields(row: Any) -> dict[str, Any]:
    """The ``RunSummary`` fields of a ``runs`` row (``RunRecord`` adds params and tasks)."""
    return {"id": row.id, "pipeline": row.pipeline, "number": row.number, "status": cast(RunStatus, row.status),
            "reason": row.reason, "event": row.event, "branch": row.branch, "git": dict(row.git or {}),
            "created_at": row.created_at, "started_at": row.started_at, "finished_at": row.finished_at}


def summary_record(row: Any) -> RunSummary:
    """A ``runs`` row as the record ``Store.list_runs`` returns."""
    return RunSummary(**summary_fields(row))


def step_record(row: Any) -> StepRecord:
    return StepRecord(task=row.task, attempt=row.attempt, name=row.name, position=row.position,
                      exit_code=row.exit_code, started_at=row.started_at, finished_at=row.finished_at,
                      log_path=row.log_path, truncated=bool(row.truncated), bytes=row.bytes)


def task_record(row: Any, steps: Iterable[StepRecord]) -> TaskRecord:
    return TaskRecord(name=row.name, base=row.base, is_finally=bool(row.is_finally),
                      status=cast(TaskStatus, row.status), reason=row.reason, attempts=row.attempts,
                      exit_code=row.exit_code, results=dict(row.results or {}), started_at=row.started_at,
                      finished_at=row.finished_at, position=row.position, steps=tuple(steps))
