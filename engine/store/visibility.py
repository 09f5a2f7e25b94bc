"""Runs and events as seen by a caller limited to some projects: which project a run belongs to, and the
listing and lookup of only those runs and events.

Why: an API token may be limited to projects (``group/app``), and a caller must not learn that a run of
another project exists, not even through an id prefix that would be ambiguous among all runs. A server run
belongs to the project of the webhook that started it (``run_leases.project_id``); a run started with
``wishstar run`` on the machine belongs to no project and is visible only to callers of every project.
Callers of every project use ``Store`` directly; these functions are for the limited ones. Must not decide
who may see what (``webhook.access`` does) and must not change anything.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, select

from wishstar.engine.status import RUN_STATUSES
from wishstar.engine.store import db, shape
from wishstar.engine.store.api import Store
from wishstar.engine.store.errors import AmbiguousRun, RunNotFound
from wishstar.engine.store.models import events, projects, run_leases, runs
from wishstar.engine.store.rows import summary_record
from wishstar.engine.store.server import StoredEvent

_HEX = re.compile(r"[0-9a-f]{1,32}")


def _of_projects(query: Select[Any], paths: Collection[str]) -> Select[Any]:
    return (query.join(run_leases, run_leases.c.run_id == runs.c.id)
            .join(projects, projects.c.id == run_leases.c.project_id)
            .where(projects.c.path.in_(sorted(paths))))


def run_project(store: Store, run_id: str) -> str | None:
    """The path of the project a run belongs to; None for a run of no project (or no such run)."""
    query = (select(projects.c.path).select_from(run_leases)
             .join(projects, projects.c.id == run_leases.c.project_id).where(run_leases.c.run_id == run_id))
    with db.read(store.engine) as conn:
        return conn.execute(query).scalar()


def resolve_visible(store: Store, ref: str, paths: Collection[str]) -> str:
    """Like ``Store.resolve``, among the runs of ``paths`` only: a run of another project is not found, and
    an id prefix is ambiguous only among the visible runs."""
    _, sep, number = ref.rpartition("#")
    if sep and number.isdigit():
        run_id = store.resolve(ref)
        if run_project(store, run_id) not in paths:
            raise RunNotFound(ref)
        return run_id
    if not _HEX.fullmatch(ref):
        raise RunNotFound(ref)
    query = _of_projects(select(runs.c.id), paths).where(runs.c.id >= ref, runs.c.id < ref + "g")
    with db.read(store.engine) as conn:
        ids = [str(i) for i in conn.execute(query.order_by(runs.c.id).limit(6)).scalars()]
    if ref in ids:
        return ref
    if not ids:
        raise RunNotFound(ref)
    if len(ids) > 1:
        raise AmbiguousRun(ref, ids)
    return ids[0]


def list_runs_of(store: Store, paths: Collection[str], *, status: str | None = None, branch: str | None = None,
                 pipeline: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """``Store.list_runs`` restricted to the runs of ``paths`` (same filters, same shape, newest first)."""
    query = _of_projects(select(runs), paths)
    if status is not None and status in RUN_STATUSES:
        query = query.where(runs.c.status == status)
    if branch is not None:
        query = query.where(runs.c.branch == branch)
    if pipeline is not None:
        query = query.where(runs.c.pipeline == pipeline)
    with db.read(store.engine) as conn:
        rows = conn.execute(query.order_by(runs.c.created_at.desc()).limit(max(0, limit))).all()
    return [shape.run_summary(summary_record(r)) for r in rows]


def event_project(store: Store, event_id: str) -> str | None:
    """The path of the project an event was delivered for; None when unknown (or no such event)."""
    query = (select(projects.c.path).select_from(events).join(projects, projects.c.id == events.c.project_id)
             .where(events.c.id == event_id))
    with db.read(store.engine) as conn:
        return conn.execute(query).scalar()


def event_exists(store: Store, event_id: str) -> bool:
    with db.read(store.engine) as conn:
        return conn.execute(select(events.c.id).where(events.c.id == event_id)).first() is not None


def list_events_of(store: Store, paths: Collection[str], *, status: str | None = None,
                   limit: int = 50) -> list[StoredEvent]:
    """Stored deliveries of the projects ``paths``, newest first."""
    query = (select(events).join(projects, projects.c.id == events.c.project_id)
             .where(projects.c.path.in_(sorted(paths))).order_by(events.c.received_at.desc()).limit(limit))
    if status is not None:
        query = query.where(events.c.status == status)
    with db.read(store.engine) as conn:
        rows = conn.execute(query).mappings().all()
    return [StoredEvent(**dict(r)) for r in rows]
