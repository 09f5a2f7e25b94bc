"""Reading the deployments the store recorded: what is deployed for a project, a release's history, where a
digest runs, what a run deployed; and their one JSON shape.

Why: Helm's own list is not the history, and listing every release secret is slow at a few thousand
releases. Each question here is one indexed query (``ix_deployments_project_release``,
``ix_deployments_release``, ``ix_deployments_digest``, the run's unique key): the CLI (``wishstar
deployments``, ``wishstar runs show``) and the API (``webhook.routes.deployments``) call these same
functions. "Current" is the last recorded revision of a release (the highest, unless the release was
uninstalled and installed again: Helm starts again at 1). Callers limited to some projects pass their paths:
they see the deployments of those projects' server runs only, never those of a ``wishstar run`` (as with
runs, ``engine.store.visibility``). Must not write: recording is ``engine.store.deploy_record``'s.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from wishstar.engine.spec.errors import WishstarError
from wishstar.engine.store import db
from wishstar.engine.store.api import Store
from wishstar.engine.store.models import deployments
from wishstar.engine.store.shape import epoch, iso

d = deployments.c
_COLUMNS = (d.id, d.run_id, d.pipeline, d.run_number, d.task, d.project, d.namespace, d.release, d.revision,
            d.chart, d.chart_version, d.image, d.image_digest, d.commit, d.ref, d.deployed_at, d.status)
HISTORY_LIMIT = 50


class HistoryNeedsScope(WishstarError):
    def __init__(self, release: str) -> None:
        super().__init__(f'the history of release "{release}" needs its namespace or its project (hint: '
                         "--namespace NAMESPACE, or the project before the options)")


@dataclass(frozen=True)
class Deployment:
    """One recorded Helm revision. ``run_id`` is None once its run was deleted (the row stays);
    ``current``: whether it is the release's last recorded revision (None where the query did not ask)."""

    id: int
    run_id: str | None
    pipeline: str
    run_number: int
    task: str
    project: str
    namespace: str
    release: str
    revision: int
    chart: str | None
    chart_version: str | None
    image: str | None
    image_digest: str | None
    commit: str | None
    ref: str | None
    deployed_at: float
    status: str
    current: bool | None = None


def _record(row: Any, current: bool | None = None) -> Deployment:
    return Deployment(**{c.name: row._mapping[c.name] for c in _COLUMNS}, current=current)


def _visible(query: Select[Any], paths: Collection[str] | None) -> Select[Any]:
    """Only the deployments of server runs of ``paths`` (None: every deployment)."""
    if paths is None:
        return query
    return query.where(d.project.in_(sorted(paths)), d.project_id.is_not(None))


class Deployments:
    """The deployment queries over one store."""

    def __init__(self, store: Store) -> None:
        self._engine = store.engine

    def _all(self, query: Select[Any]) -> list[Any]:
        with db.read(self._engine) as conn:
            return list(conn.execute(query).all())

    def current(self, project: str, *, namespace: str | None = None, release: str | None = None,
                projects: Collection[str] | None = None) -> list[Deployment]:
        """What is deployed for ``project``: the last recorded revision of each (namespace, release), by
        namespace then release (``current_query``)."""
        return [_record(row, True) for row in self._all(current_query(project, namespace, release, projects))]

    def history(self, release: str, *, namespace: str | None = None, project: str | None = None,
                projects: Collection[str] | None = None, limit: int = HISTORY_LIMIT) -> list[Deployment]:
        """The recorded revisions of one release, newest first: in ``namespace`` (``namespace, release, id``),
        of ``project`` (``project, namespace, release, id``), or both; one of them is needed."""
        if namespace is None and project is None:
            raise HistoryNeedsScope(release)
        query = select(*_COLUMNS, _current()).where(d.release == release)
        if namespace is not None:
            query = query.where(d.namespace == namespace)
        if project is not None:
            query = query.where(d.project == project)
        rows = self._all(_visible(query, projects).order_by(d.id.desc()).limit(max(0, limit)))
        return [_record(row, bool(row.current)) for row in rows]

    def recent(self, *, projects: Collection[str] | None = None, limit: int = HISTORY_LIMIT) -> list[Deployment]:
        """The latest recorded deployments, newest first (the primary key, backwards)."""
        query = _visible(select(*_COLUMNS, _current()), projects).order_by(d.id.desc()).limit(max(0, limit))
        return [_record(row, bool(row.current)) for row in self._all(query)]

    def where(self, digest: str, *, projects: Collection[str] | None = None,
              limit: int = HISTORY_LIMIT) -> list[Deployment]:
        """Where an image digest was deployed, newest first, each marked current when it is still its
        release's last recorded revision (``image_digest, id``, then one index probe per row)."""
        query = _visible(select(*_COLUMNS, _current()).where(d.image_digest == digest), projects)
        rows = self._all(query.order_by(d.id.desc()).limit(max(0, limit)))
        return [_record(row, bool(row.current)) for row in rows]

    def of_run(self, run_id: str) -> list[Deployment]:
        """What one run deployed, in the order it was recorded."""
        return [_record(row) for row in self._all(select(*_COLUMNS).where(d.run_id == run_id).order_by(d.id))]


def current_query(project: str, namespace: str | None = None, release: str | None = None,
                  projects: Collection[str] | None = None) -> Select[Any]:
    """The query behind ``Deployments.current`` (``bench/deployments.py`` EXPLAINs it): the latest id of each
    release of the project from one range of ``ix_deployments_project_release``, then those rows by id."""
    latest = select(func.max(d.id).label("id")).where(d.project == project)
    if namespace is not None:
        latest = latest.where(d.namespace == namespace)
    if release is not None:
        latest = latest.where(d.release == release)
    latest_ids = _visible(latest, projects).group_by(d.namespace, d.release).subquery()
    return select(*_COLUMNS).join(latest_ids, latest_ids.c.id == d.id).order_by(d.namespace, d.release)


def _current() -> ColumnElement[Any]:
    """Whether a row is its release's last recorded revision: no later row of the same project, namespace
    and release (a probe of ``ix_deployments_project_release``)."""
    later = deployments.alias("later")
    newer = select(later.c.id).where(later.c.project == d.project, later.c.namespace == d.namespace,
                                     later.c.release == d.release, later.c.id > d.id)
    return (~newer.exists()).label("current")


# -- the public JSON shape (``wishstar deployments --output json``, ``/api/.../deployments``) ---------------------

def deployment_dict(item: Deployment) -> dict[str, Any]:
    return {"project": item.project, "namespace": item.namespace, "release": item.release,
            "revision": item.revision, "status": item.status, "current": item.current,
            "chart": item.chart, "chart_version": item.chart_version, "image": item.image,
            "image_digest": item.image_digest, "commit": item.commit, "ref": item.ref,
            "run_id": item.run_id, "pipeline": item.pipeline, "run_number": item.run_number, "task": item.task,
            "deployed_at": iso(item.deployed_at), "id": item.id}


def deployment_from_json(data: Mapping[str, Any]) -> Deployment:
    """``deployment_dict``'s inverse, for a client of the API (``--server``)."""
    return Deployment(id=int(data["id"]), run_id=data.get("run_id"), pipeline=data["pipeline"],
                      run_number=int(data["run_number"]), task=data["task"], project=data["project"],
                      namespace=data["namespace"], release=data["release"], revision=int(data["revision"]),
                      chart=data.get("chart"), chart_version=data.get("chart_version"), image=data.get("image"),
                      image_digest=data.get("image_digest"), commit=data.get("commit"), ref=data.get("ref"),
                      deployed_at=epoch(data.get("deployed_at")) or 0.0, status=data["status"],
                      current=data.get("current"))
