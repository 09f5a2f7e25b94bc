"""``wishstar runs delete`` and ``runs prune``: forgetting runs, with everything they left behind.

Why: history, step logs and working directories grow with every run, and a Kubernetes run kept for debugging
(``keep``) or whose teardown could not reach the cluster still has its owner object there. Deleting a run
removes all of it: the store's rows, the log files, the kept checkout, and for a Kubernetes run its owner
object (the garbage collector removes its Pods, ConfigMaps, Secrets and claims). ``prune`` does that for
every run that ended before a cutoff, from cron or by hand, also against the server's PostgreSQL store.

An orphan (a ``wishstar run --executor kubernetes`` whose process died and that nobody resumed) expires too:
``prune`` cancels one created before the cutoff (deleting its Pods, as ``runs cancel`` does), then deletes it.

Must not delete a run that a live process or a replica may still drive, nor forget a run whose cluster objects
could not be deleted without saying so.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from wishstar.cli.common import UserError, err
from wishstar.engine.spec.durations import parse_duration
from wishstar.engine.status import ENDED_RUN_STATUSES
from wishstar.engine.store.api import Store
from wishstar.pipelines.settings import Settings


@dataclass
class Deleted:
    runs: list[str] = field(default_factory=list)
    cluster_objects: int = 0
    kept: list[str] = field(default_factory=list)
    """Runs left in the store because their cluster objects could not be deleted."""


def older_than(text: str) -> float:
    """``30d``, ``12h``, ``90m`` or any Go duration, in seconds (days are allowed here: retention is long)."""
    stripped = text.strip()
    try:
        if stripped.endswith("d") and stripped[:-1].replace(".", "", 1).isdigit():
            return float(stripped[:-1]) * 86400
        return parse_duration(stripped)
    except ValueError:
        raise UserError(f'--older-than {text!r}: not a duration (write e.g. "30d", "12h" or "90m")') from None


def check_ended(store: Store, refs: Iterable[str]) -> list[str]:
    """The run ids, refusing (all named at once) any that has not ended."""
    ids, active = [], []
    for ref in refs:
        run = store.get_run(ref)
        ids.append(run.id)
        if run.status not in ENDED_RUN_STATUSES:
            active.append(f"{run.id} ({run.status})")
    if active:
        raise UserError(f"not deleted, these runs have not ended: {', '.join(active)} (hint: `wishstar runs "
                        "cancel RUN` first; nothing was deleted)")
    return ids


def delete_runs(store: Store, cfg: Settings, run_ids: Iterable[str], *, force: bool = False) -> Deleted:
    """Delete ended runs with their logs, working directories and cluster objects. A run whose cluster
    objects cannot be deleted (the cluster is unreachable) is kept, unless ``force``: then it is forgotten
    all the same, with a warning naming what is left in the cluster."""
    done = Deleted()
    for run_id in run_ids:
        target = store.origin(run_id).target
        if target is not None:
            from wishstar.cli.resume_cmd import delete_cluster_objects

            try:
                done.cluster_objects += delete_cluster_objects(run_id, target,
                                                               retry=f"wishstar runs delete {run_id}")
            except UserError as exc:
                if not force:
                    err.print(f"kept run {run_id}: {exc}; --force forgets it anyway", highlight=False)
                    done.kept.append(run_id)
                    continue
                err.print(f"warning: run {run_id} forgotten, but {exc}", highlight=False)
        shutil.rmtree(cfg.state_dir / "work" / run_id, ignore_errors=True)
        store.delete_run(run_id)
        done.runs.append(run_id)
    return done


def expire_orphans(store: Store, cutoff: float, *, force: bool = False) -> tuple[list[str], list[str]]:
    """Cancel the orphans created before ``cutoff`` (their Pods deleted): (ended, kept). One whose cluster
    cannot be reached is kept, unless ``force``: then it is ended all the same, with a warning."""
    from wishstar.cli.resume_cmd import cancel_orphan

    ended, kept = [], []
    for run_id in store.orphans(created_before=cutoff):
        try:
            cancel_orphan(store, run_id)
        except UserError as exc:
            if not force:
                err.print(f"kept orphaned run {run_id}: {exc}; --force ends it anyway", highlight=False)
                kept.append(run_id)
                continue
            err.print(f"warning: orphaned run {run_id} ended, but {exc}", highlight=False)
            store.end_owned_run(run_id, socket.gethostname(), os.getpid(), "cancelled",
                                "expired while orphaned; its cluster could not be reached", now=time.time())
        ended.append(run_id)
    return ended, kept
