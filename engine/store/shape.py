"""Turning the store's records into the JSON shapes the CLI, the web API and ``--output json`` promise.

Why: ``get_run`` and ``list_runs`` return typed records (``engine.records``); the keys of their JSON form are a
public contract (``wishstar runs show --output json``, ``/api/runs``), written here once so that every caller
prints the same bytes. Must not query the database or read the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wishstar.engine.records import RunRecord, RunSummary, StepRecord, TaskRecord


def iso(ts: float | None) -> str | None:
    """Epoch seconds -> ``2024-05-01T12:00:00.123Z`` (UTC, millisecond precision), None stays None."""
    if ts is None:
        return None
    text = datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def run_summary(run: RunSummary) -> dict[str, Any]:
    """One line of ``runs list``."""
    return {
        "id": run.id,
        "pipeline": run.pipeline,
        "number": run.number,
        "status": run.status,
        "reason": run.reason,
        "event": run.event,
        "branch": run.branch,
        "commit": dict(run.git).get("commit"),
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
    }


def step_dict(step: StepRecord) -> dict[str, Any]:
    return {
        "name": step.name,
        "attempt": step.attempt,
        "exit_code": step.exit_code,
        "started_at": iso(step.started_at),
        "finished_at": iso(step.finished_at),
        "log": step.log_path,
        "truncated": step.truncated,
        "bytes": step.bytes,
    }


def task_dict(task: TaskRecord) -> dict[str, Any]:
    return {
        "name": task.name,
        "status": task.status,
        "reason": task.reason,
        "attempts": task.attempts,
        "exit_code": task.exit_code,
        "results": dict(task.results),
        "started_at": iso(task.started_at),
        "finished_at": iso(task.finished_at),
        "steps": [step_dict(s) for s in task.steps],
    }


def run_dict(run: RunRecord) -> dict[str, Any]:
    """The full ``runs show --output json`` shape: run fields, then tasks in plan order with their steps."""
    return {
        "id": run.id,
        "pipeline": run.pipeline,
        "number": run.number,
        "status": run.status,
        "reason": run.reason,
        "event": run.event,
        "git": dict(run.git),
        "params": dict(run.params),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "tasks": [task_dict(t) for t in run.tasks],
    }
