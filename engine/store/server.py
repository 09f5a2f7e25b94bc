"""The server's records: projects and webhook events. Shared by the receiver (which stores events before it
answers), the workers (which claim them) and the CLI (``wishstar projects``).

Secrets (hook secret, API token) are stored here and returned to callers that need them, but never rendered
by ``project_view``; nothing in this module logs. Timestamps are handed in by the caller.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from wishstar.engine.spec.errors import WishstarError
from wishstar.engine.status import EVENT_STATUSES
from wishstar.engine.store import db
from wishstar.engine.store.api import Store
from wishstar.engine.store.models import events, projects


class ProjectNotFound(WishstarError):
    def __init__(self, ref: str) -> None:
        super().__init__(f'no project "{ref}" (hint: `wishstar projects list`)')


class ProjectExists(WishstarError):
    def __init__(self, path: str) -> None:
        super().__init__(f'project "{path}" is already registered (hint: `wishstar projects remove {path}` first)')


@dataclass(frozen=True)
class Project:
    id: int
    gitlab_url: str
    gitlab_id: int
    path: str
    clone_url: str | None
    hook_secret: str = field(repr=False)
    api_token: str | None = field(repr=False)
    hook_id: int | None
    fork_secrets: bool
    statuses_per_task: bool
    mr_notes: bool
    created_at: float


def project_view(project: Project) -> dict[str, Any]:
    """What may be shown (CLI, API): never the hook secret or the token, only whether they are set."""
    return {"id": project.id, "gitlab_url": project.gitlab_url, "gitlab_id": project.gitlab_id,
            "path": project.path, "clone_url": project.clone_url, "hook_id": project.hook_id,
            "has_token": bool(project.api_token), "fork_secrets": project.fork_secrets,
            "statuses_per_task": project.statuses_per_task, "mr_notes": project.mr_notes}


def new_hook_secret() -> str:
    return secrets.token_urlsafe(32)


class Projects:
    """Registered GitLab projects."""

    def __init__(self, store: Store) -> None:
        self._engine = store.engine

    def add(self, *, gitlab_url: str, gitlab_id: int, path: str, hook_secret: str, now: float,
            api_token: str | None = None, clone_url: str | None = None, hook_id: int | None = None,
            fork_secrets: bool = False, statuses_per_task: bool = False, mr_notes: bool = False) -> Project:
        values = {"gitlab_url": gitlab_url.rstrip("/"), "gitlab_id": gitlab_id, "path": path,
                  "hook_secret": hook_secret, "api_token": api_token, "clone_url": clone_url, "hook_id": hook_id,
                  "fork_secrets": fork_secrets, "statuses_per_task": statuses_per_task, "mr_notes": mr_notes,
                  "created_at": now}
        try:
            with db.write(self._engine) as conn:
                pid = conn.execute(insert(projects).values(**values).returning(projects.c.id)).scalar_one()
        except IntegrityError:
            raise ProjectExists(path) from None
        return self.get(int(pid))

    def set_hook_id(self, project_id: int, hook_id: int | None) -> None:
        with db.write(self._engine) as conn:
            conn.execute(update(projects).where(projects.c.id == project_id).values(hook_id=hook_id))

    def get(self, project_id: int) -> Project:
        with db.read(self._engine) as conn:
            row = conn.execute(select(projects).where(projects.c.id == project_id)).mappings().first()
        if row is None:
            raise ProjectNotFound(str(project_id))
        return Project(**dict(row))

    def find(self, *, gitlab_id: int | None = None, path: str | None = None,
             gitlab_url: str | None = None) -> Project | None:
        """The project a webhook names: by GitLab id (and instance URL when known), else by path."""
        query = select(projects)
        if gitlab_id is not None:
            query = query.where(projects.c.gitlab_id == gitlab_id)
            if gitlab_url:
                query = query.where(projects.c.gitlab_url == gitlab_url.rstrip("/"))
        elif path is not None:
            query = query.where(projects.c.path == path)
        else:
            return None
        with db.read(self._engine) as conn:
            rows = conn.execute(query.limit(2)).mappings().all()
        return Project(**dict(rows[0])) if len(rows) == 1 else None

    def resolve(self, ref: str) -> Project:
        """By numeric Wishstar id, GitLab path (``group/app``) or GitLab id."""
        found = self.find(path=ref)
        if found is None and ref.isdigit():
            found = self.find(gitlab_id=int(ref))
        if found is None:
            raise ProjectNotFound(ref)
        return found

    def list(self) -> list[Project]:
        with db.read(self._engine) as conn:
            rows = conn.execute(select(projects).order_by(projects.c.path)).mappings().all()
        return [Project(**dict(r)) for r in rows]

    def remove(self, project_id: int) -> None:
        with db.write(self._engine) as conn:
            conn.execute(delete(projects).where(projects.c.id == project_id))


@dataclass(frozen=True)
class StoredEvent:
    id: str
    project_id: int | None
    delivery_key: str
    kind: str
    header: str | None
    payload: Mapping[str, Any]
    status: str
    reason: str | None
    received_at: float
    attempts: int
    run_id: str | None
    lease_owner: str | None = None
    lease_expires_at: float | None = None


class Events:
    """Webhook deliveries. ``add`` is the receiver's one write: it either stores the event (a unique delivery
    key makes a redelivery a no-op) or reports the duplicate; workers claim stored events elsewhere."""

    def __init__(self, store: Store) -> None:
        self._engine = store.engine

    def add(self, *, delivery_key: str, kind: str, header: str | None, payload: Mapping[str, Any],
            project_id: int | None, now: float, status: str = "pending",
            reason: str | None = None) -> tuple[str, bool]:
        """Store an event; returns ``(event id, duplicate)``. A duplicate returns the first delivery's id."""
        if status not in EVENT_STATUSES:
            raise ValueError(f"event status {status!r}")
        event_id = secrets.token_hex(8)
        try:
            with db.write(self._engine) as conn:
                conn.execute(insert(events).values(
                    id=event_id, project_id=project_id, delivery_key=delivery_key, kind=kind, header=header,
                    payload=dict(payload), status=status, reason=reason, received_at=now, attempts=0))
            return event_id, False
        except IntegrityError:
            with db.read(self._engine) as conn:
                first = conn.execute(select(events.c.id).where(events.c.delivery_key == delivery_key)).scalar()
            if first is None:
                raise
            return str(first), True

    def get(self, event_id: str) -> StoredEvent:
        with db.read(self._engine) as conn:
            row = conn.execute(select(events).where(events.c.id == event_id)).mappings().first()
        if row is None:
            raise WishstarError(f'no event "{event_id}"')
        return StoredEvent(**dict(row))

    def list(self, *, status: str | None = None, limit: int = 50) -> list[StoredEvent]:
        query = select(events).order_by(events.c.received_at.desc()).limit(limit)
        if status is not None:
            query = query.where(events.c.status == status)
        with db.read(self._engine) as conn:
            rows = conn.execute(query).mappings().all()
        return [StoredEvent(**dict(r)) for r in rows]

    def count(self) -> int:
        with db.read(self._engine) as conn:
            return len(conn.execute(select(events.c.id)).all())
