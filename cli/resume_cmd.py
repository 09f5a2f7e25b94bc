"""``wishstar runs resume`` and ``runs cancel`` of an orphan: a Kubernetes run whose ``wishstar run`` process died.

Why: the Pods of ``wishstar run --executor kubernetes`` outlive the process that created them, so when that
process is killed the store's reaper leaves the run active ("orphaned") instead of failing it. Resuming takes
the run over and drives it on from its stored task rows and its kept checkout (``state_dir/work/<run>``): the
executor finds each running task's Pod by run, task and attempt and re-attaches instead of creating another;
finished tasks are not run again. Cancelling an orphan deletes the run's owner object in the cluster (the
garbage collector removes its Pods) and ends it cancelled.

Must not take a run a live process owns (taking over is a store update conditional on the dead owner, so of
two resumes exactly one wins), and must not drive a run any other way than ``wishstar run`` does: it walks
the same road (``pipelines.road``) from the kept checkout, and drives with ``cli.run_cmd.drive``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path
from typing import Any, cast

from wishstar.cli.common import UserError
from wishstar.cli.run_cmd import RunRequest, drive
from wishstar.engine.records import RunRecord
from wishstar.engine.resume import resume_state
from wishstar.engine.status import ENDED_RUN_STATUSES
from wishstar.engine.store.api import RunOrigin, Store, process_is_alive
from wishstar.pipelines import catalogs, road
from wishstar.pipelines.load import Loaded
from wishstar.pipelines.road import RunPlace, Target
from wishstar.pipelines.settings import Settings
from wishstar.tasks import Library


def resumable(store: Store, ref: str) -> tuple[RunRecord, RunOrigin]:
    """The run and its origin, or a ``UserError`` saying why it cannot be resumed."""
    run = store.get_run(ref)
    run_id, origin = run.id, store.origin(run.id)
    if run.status in ENDED_RUN_STATUSES:
        raise UserError(f"run {run_id} already ended ({run.status}); there is nothing to resume "
                        "(hint: `wishstar run` starts a new run)")
    if origin.executor != "kubernetes":
        raise UserError(f"run {run_id} runs on the {origin.executor or 'local'} executor: only a Kubernetes "
                        "run's Pods outlive its process, so only those can be resumed")
    if origin.target is None:
        raise UserError(f"run {run_id} has no recorded Kubernetes target: it was started by `wishstar serve` "
                        "(a replica takes it over by its lease) or by an older wishstar")
    if origin.host is not None and origin.pid is not None and process_is_alive(origin.host, origin.pid):
        raise UserError(f"run {run_id} is still driven by a live process (host {origin.host}, pid {origin.pid})"
                        f" (hint: wait for it, or `wishstar runs cancel {run_id}` to stop it)")
    return run, origin


def _take_over(store: Store, origin: RunOrigin) -> None:
    if origin.host is None or origin.pid is None or not store.take_over(origin.run_id, origin.host, origin.pid):
        raise UserError(f"run {origin.run_id} was taken over by another process just now "
                        f"(hint: `wishstar runs show {origin.run_id}`)")


def resume(ref: str, secrets: dict[str, str], progress: bool, cfg: Settings, store: Store,
           library: Library) -> tuple[str, str]:
    """Take an orphaned Kubernetes run over and drive it to its end; returns (run id, final status)."""
    run, origin = resumable(store, ref)
    run_id, target = origin.run_id, origin.target or {}
    run_dir = cfg.state_dir / "work" / run_id
    project = run_dir / str(target.get("project") or "checkout")
    if not project.is_dir():
        raise UserError(f"run {run_id}'s checkout ({project}) is gone (pruned: only the newest keep_workspaces "
                        f"run directories are kept), so its plan cannot be rebuilt (hint: `wishstar runs cancel "
                        f"{run_id}` deletes its Pods)")
    req = RunRequest(source=str(project), executor="kubernetes", namespace=target["namespace"],
                     kubeconfig=target.get("kubeconfig"), context=target.get("context"),
                     concurrency=target.get("concurrency"), secrets=secrets, progress=progress)
    # the catalogs at the commits the run recorded (``library`` is the caller's: for a run that recorded none)
    recorded = run.git.get("library")
    library = catalogs.from_record(recorded, cfg, project=project) if recorded else library.for_project(project)
    loaded = _stored_pipeline(origin, run_dir, library)
    ctx = road.run_context(run_id, run.number, cast(Any, run.event or "manual"), road.git_context(run.git),
                           dict(run.params), req.target(), cfg)
    plan = road.compile_plan(loaded, ctx, library, req.target(), cfg)
    _take_over(store, origin)
    start = resume_state(plan, run, time.time(), reattach=True)
    status = drive(plan, ctx, RunPlace(run_dir, project), req, cfg, store, start=start)
    return run_id, status


def _stored_pipeline(origin: RunOrigin, run_dir: Path, library: Library) -> Loaded:
    """The pipeline file the run was started from, read again from its kept checkout."""
    if origin.file and Path(origin.file).is_absolute():
        path = Path(origin.file)
        return road.read_pipeline(path.parent, path.name, library, shown=origin.file)
    return road.read_pipeline(run_dir / "checkout", origin.file, library)


def cancel_orphan(store: Store, run_id: str) -> None:
    """Delete an orphaned run's objects in the cluster and end it cancelled (its finally tasks do not run)."""
    _, origin = resumable(store, run_id)
    target = origin.target or {}
    _take_over(store, origin)
    host, pid = socket.gethostname(), os.getpid()
    delete_cluster_objects(run_id, target, retry=f"wishstar runs cancel {run_id}")
    store.end_owned_run(run_id, host, pid, "cancelled",
                        "cancelled while orphaned: its Pods were deleted; finally tasks did not run", now=time.time())


def delete_cluster_objects(run_id: str, target: dict[str, Any], *, retry: str) -> bool:
    """Delete the run's objects in ``target``'s namespace (the garbage collector removes the run's Pods,
    ConfigMaps, Secrets and claims); False when they were already gone. ``UserError`` naming ``retry`` when
    the cluster cannot be reached or refuses."""
    from wishstar.engine.executors.kubernetes import KubernetesError

    where = Target("kubernetes", target["namespace"], target.get("kubeconfig"), target.get("context"))
    try:
        return asyncio.run(road.run_objects(where).delete(run_id))
    except KubernetesError as exc:
        raise UserError(f"cannot delete the objects of run {run_id} in namespace {target['namespace']}: {exc} "
                        f"(hint: fix access to the cluster and run `{retry}` again)") from None
