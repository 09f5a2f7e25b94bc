"""``/api/runs``: the run history over HTTP, in the same shapes as ``wishstar runs list|show --output json``.

Why: GitLab's commit statuses link to runs, and people and tools read them without a shell on the server.
The JSON keys are the public contract of ``engine.store.shape``; the models here document them in the OpenAPI
schema. Must not hold log contents in memory (logs stream from their files in fixed-size chunks) and must not
drive runs: cancelling only sets the flag the process running the run polls.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from wishstar.engine.records import RunRecord
from wishstar.engine.spec.errors import did_you_mean
from wishstar.engine.status import ENDED_RUN_STATUSES, RunStatus
from wishstar.engine.store import shape
from wishstar.engine.store.api import Store
from wishstar.engine.store.visibility import list_runs_of
from wishstar.webhook.auth import AccessDep
from wishstar.webhook.deps import StoreDep

router = APIRouter(prefix="/api/runs", tags=["runs"])

RunRef = Annotated[str, PathParam(description="run id, unique id prefix, or PIPELINE#NUMBER (# as %23)")]
_CHUNK = 64 * 1024
class RunSummary(BaseModel):
    """One line of ``wishstar runs list --output json``."""

    id: str
    pipeline: str
    number: int
    status: str
    reason: str | None
    event: str | None
    branch: str | None
    commit: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None


class StepOut(BaseModel):
    name: str
    attempt: int
    exit_code: int | None
    started_at: str | None
    finished_at: str | None
    log: str | None
    truncated: bool
    bytes: int


class TaskOut(BaseModel):
    name: str
    status: str
    reason: str | None
    attempts: int
    exit_code: int | None
    results: dict[str, Any]
    started_at: str | None
    finished_at: str | None
    steps: list[StepOut]


class RunOut(BaseModel):
    """``wishstar runs show --output json``: the run, then its tasks in plan order with their steps."""

    id: str
    pipeline: str
    number: int
    status: str
    reason: str | None
    event: str | None
    git: dict[str, Any]
    params: dict[str, Any]
    started_at: str | None
    finished_at: str | None
    tasks: list[TaskOut]


class CancelOut(BaseModel):
    id: str
    status: str
    already_ended: bool


@router.get("", response_model=list[RunSummary])
def list_runs(
    store: StoreDep,
    access: AccessDep,
    status: RunStatus | None = None,
    branch: str | None = None,
    pipeline: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10000, description="at most this many, newest first")] = 20,
) -> list[dict[str, Any]]:
    """Recent runs, newest first (the filters of ``wishstar runs list``), of the projects the caller sees."""
    if access.projects is not None:
        return list_runs_of(store, access.projects, status=status, branch=branch, pipeline=pipeline, limit=limit)
    return [shape.run_summary(r) for r in store.list_runs(status=status, branch=branch, pipeline=pipeline,
                                                          limit=limit)]


@router.get("/{ref}", response_model=RunOut)
def show_run(store: StoreDep, ref: RunRef) -> dict[str, Any]:
    """One run with its tasks, results and reasons."""
    return shape.run_dict(store.get_run(ref))


@router.post("/{ref}/cancel", response_model=CancelOut, status_code=202)
def cancel_run(store: StoreDep, ref: RunRef) -> CancelOut:
    """Ask the process running the run to stop it; safe to repeat."""
    run_id = store.request_cancel(ref)
    status = store.get_run(run_id).status
    return CancelOut(id=run_id, status=status, already_ended=status in ENDED_RUN_STATUSES)


def _log_files(store: Store, run: RunRecord, task: str, attempt: int | None) -> list[Path]:
    record = run.task(task)
    if record is None:
        hint = did_you_mean(task, run.task_names)
        raise HTTPException(404, f'run {run.id} has no task "{task}"' + (f" ({hint})" if hint else ""))
    root = store.state_dir.resolve()
    found = []
    for step in record.steps:
        if attempt is not None and step.attempt != attempt:
            continue
        path = Path(step.log_path) if step.log_path else None
        if path is not None and path.resolve().is_relative_to(root) and path.is_file():
            found.append(path)
    return found


def _stream(paths: list[Path]) -> Iterator[bytes]:
    for path in paths:
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                yield chunk


@router.get("/{ref}/logs/{task}", response_class=StreamingResponse,
            responses={200: {"content": {"text/plain": {}}, "description": "the task's step logs, in order"}})
def task_logs(
    store: StoreDep, ref: RunRef, task: str,
    attempt: Annotated[int | None, Query(ge=1, description="only this attempt (default: every attempt)")] = None,
) -> StreamingResponse:
    """A task's step logs as they are on disk, streamed in 64 KiB chunks."""
    files = _log_files(store, store.get_run(ref), task, attempt)
    return StreamingResponse(_stream(files), media_type="text/plain; charset=utf-8")
