"""Turning store rows into the JSON shapes the CLI, the web API and ``--json`` output promise.

Why: ``get_run`` and ``list_runs`` return plain dicts whose keys are a public contract; keeping the mapping in
one small module makes that contract easy to read and to test. Must not query the database or read the clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any


def iso(ts: float | None) -> str | None:
    """Epoch seconds -> ``2024-05-01T12:00:00.123Z`` (UTC, millisecond precision), None stays None."""
    if ts is None:
        return None
    text = datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def run_summary(row: Mapping[Any, Any]) -> dict[str, Any]:
    """One line of ``runs list``."""
    git = dict(row["git"] or {})
    return {
        "id": row["id"],
        "pipeline": row["pipeline"],
        "number": row["number"],
        "status": row["status"],
        "reason": row["reason"],
        "event": row["event"],
        "branch": row["branch"],
        "commit": git.get("commit"),
        "created_at": iso(row["created_at"]),
        "started_at": iso(row["started_at"]),
        "finished_at": iso(row["finished_at"]),
    }


def step_dict(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "name": row["name"],
        "attempt": row["attempt"],
        "exit_code": row["exit_code"],
        "started_at": iso(row["started_at"]),
        "finished_at": iso(row["finished_at"]),
        "log": row["log_path"],
        "truncated": bool(row["truncated"]),
        "bytes": row["bytes"],
    }


def task_dict(row: Mapping[Any, Any], steps: Sequence[Mapping[Any, Any]]) -> dict[str, Any]:
    return {
        "name": row["name"],
        "status": row["status"],
        "reason": row["reason"],
        "attempts": row["attempts"],
        "exit_code": row["exit_code"],
        "results": dict(row["results"] or {}),
        "started_at": iso(row["started_at"]),
        "finished_at": iso(row["finished_at"]),
        "steps": [step_dict(s) for s in steps],
    }


def run_dict(run: Mapping[Any, Any], tasks: Sequence[Mapping[Any, Any]],
             steps: Sequence[Mapping[Any, Any]]) -> dict[str, Any]:
    """The full ``runs show --json`` shape: run fields, then tasks in plan order with their steps."""
    by_task: dict[str, list[Mapping[Any, Any]]] = {}
    for step in steps:
        by_task.setdefault(step["task"], []).append(step)
    return {
        "id": run["id"],
        "pipeline": run["pipeline"],
        "number": run["number"],
        "status": run["status"],
        "reason": run["reason"],
        "event": run["event"],
        "git": dict(run["git"] or {}),
        "params": dict(run["params"] or {}),
        "started_at": iso(run["started_at"]),
        "finished_at": iso(run["finished_at"]),
        "tasks": [task_dict(t, by_task.get(t["name"], [])) for t in tasks],
    }
