"""Turning the store's records into the JSON shapes the CLI, the web API and ``--output json`` promise.

Why: ``get_run`` and ``list_runs`` return typed records (``engine.records``); the keys of their JSON form are a
public contract (``wishstar runs show --output json``, ``/api/runs``), written here once so that every caller
prints the same bytes. Must not query the database or read the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from wishstar.engine.records import RunRecord, RunSummary, StepRecord, TaskRecord


def iso(ts: float | None) -> str | None:
    """Epoch seconds -> ``2024-05-01T12:00:00.123Z`` (UTC, millisecond precision), None stays None."""
    if ts is None:
        return None
    text = datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _identity(run: RunSummary) -> dict[str, Any]:
    """The keys both shapes of a run start with, in their order."""
    return {"id": run.id, "pipeline": run.pipeline, "number": run.number, "status": run.status,
            "reason": run.reason, "event": run.event}


def run_summary(run: RunSummary) -> dict[str, Any]:
    """One line of ``runs list``."""
    return {
        **_identity(run),
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
        **_identity(run),
        "git": dict(run.git),
        "params": dict(run.params),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "tasks": [task_dict(t) for t in run.tasks],
    }


# -- the way back, for a client of the REST API (``wishstar runs ... --server``) -------------------------------

def epoch(text: str | None) -> float | None:
    """``iso``'s inverse: ``2024-05-01T12:00:00.123Z`` -> epoch seconds; None stays None."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


def summary_from_json(data: Mapping[str, Any]) -> RunSummary:
    """A ``run_summary`` dict (one element of ``GET /api/runs``) as the record it was made from."""
    return RunSummary(id=data["id"], pipeline=data["pipeline"], number=int(data["number"]), status=data["status"],
                      reason=data.get("reason"), event=data.get("event"), branch=data.get("branch"),
                      git={"commit": data.get("commit")} if data.get("commit") else {},
                      created_at=epoch(data.get("created_at")) or 0.0, started_at=epoch(data.get("started_at")),
                      finished_at=epoch(data.get("finished_at")))


def run_from_json(data: Mapping[str, Any]) -> RunRecord:
    """A ``run_dict`` (``GET /api/runs/{ref}``) as a record. The JSON leaves out what only the store knows
    (a task's base and whether it is a finally task, the creation time): base is the task's name, positions
    follow the order given."""
    tasks = tuple(TaskRecord(
        name=t["name"], base=t["name"], is_finally=False, status=t["status"], reason=t.get("reason"),
        attempts=int(t.get("attempts") or 0), exit_code=t.get("exit_code"), results=dict(t.get("results") or {}),
        started_at=epoch(t.get("started_at")), finished_at=epoch(t.get("finished_at")), position=i,
        steps=tuple(StepRecord(task=t["name"], attempt=int(st["attempt"]), name=st["name"], position=j,
                               exit_code=st.get("exit_code"), started_at=epoch(st.get("started_at")),
                               finished_at=epoch(st.get("finished_at")), log_path=st.get("log"),
                               truncated=bool(st.get("truncated")), bytes=int(st.get("bytes") or 0))
                    for j, st in enumerate(t.get("steps") or ())))
        for i, t in enumerate(data.get("tasks") or ()))
    git = dict(data.get("git") or {})
    return RunRecord(id=data["id"], pipeline=data["pipeline"], number=int(data["number"]), status=data["status"],
                     reason=data.get("reason"), event=data.get("event"), branch=git.get("branch"), git=git,
                     created_at=epoch(data.get("started_at")) or 0.0, started_at=epoch(data.get("started_at")),
                     finished_at=epoch(data.get("finished_at")), params=dict(data.get("params") or {}), tasks=tasks)
