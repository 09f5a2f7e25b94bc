"""The durable outbox of what Wishstar owes GitLab: commit statuses and merge-request notes.

Why: a status must reach GitLab even when GitLab is down or this replica restarts, and the statuses of one
commit must arrive in the order they happened (``pending`` before ``running`` before ``success``). Items are
rows; a sender claims due rows with a lease, sends them, and marks them sent or schedules a retry.

Ordering: every item has an ordering key (the ``sha`` column: the commit for statuses, ``note_key`` for
notes). For each ``(project_id, key)`` only the oldest unsent item is eligible, so a later item is never sent
before an earlier one has been sent or has died. Items are never coalesced: coalescing that never reorders
buys little here and would hide what was owed.

Claims: on PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED`` plus a lease (owner, expiry); on SQLite the claim
is one ``BEGIN IMMEDIATE`` write transaction. Either way two replicas never hold the same item at once; a
sender whose lease expired (it died, or hung longer than the lease) loses the item to the next claimer.

Retries: ``retry`` waits ``BASE_DELAY_S * 2**(attempts-1)``, capped at ``MAX_DELAY_S``; after
``MAX_ATTEMPTS`` failed attempts (about an hour and a half of trying) the item is ``dead`` and stays in the
table with its last error. ``give_up`` kills an item at once (a permanent error such as a revoked token).

Must not talk to GitLab, read the clock (callers pass epoch seconds) or log payloads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update
from sqlalchemy.orm import aliased

from wishstar.engine.store import db
from wishstar.engine.store.api import Store
from wishstar.engine.store.models import mr_notes, outbox

BASE_DELAY_S = 2.0
MAX_DELAY_S = 300.0
MAX_ATTEMPTS = 20
"""2 + 4 + ... + 256 s, then 5 min for each further attempt: about 80 minutes before an item is dead."""
ERROR_LIMIT = 500

STATUS_STATES = ("pending", "running", "success", "failed", "canceled")
"""The states of GitLab's commit status API."""


@dataclass(frozen=True)
class OutboxItem:
    id: int
    project_id: int
    kind: str
    """``status`` or ``note``."""
    key: str | None
    """The ordering key: a commit sha for statuses, ``note_key(...)`` for notes."""
    payload: Mapping[str, Any]
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    sent_at: float | None
    lease_owner: str | None
    lease_expires_at: float | None


def backoff(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failure."""
    return float(min(MAX_DELAY_S, BASE_DELAY_S * 2 ** max(0, attempts - 1)))


def note_key(mr_iid: int, pipeline: str) -> str:
    """The ordering key of one merge request's note for one pipeline (fits the 64-character column)."""
    digest = hashlib.sha256(pipeline.encode()).hexdigest()[:24]
    return f"note!{mr_iid}:{digest}"


def _item(row: Mapping[Any, Any]) -> OutboxItem:
    values = dict(row)
    values["key"] = values.pop("sha")
    return OutboxItem(**values)


class Outbox:
    """Statuses and notes waiting for GitLab. Thread-safe; several processes may share one database."""

    def __init__(self, store: Store) -> None:
        self._engine = store.engine

    # -- producing ----------------------------------------------------------------------------------------

    def enqueue_status(self, project_id: int, sha: str, name: str, state: str, target_url: str | None,
                       description: str | None, now: float) -> int:
        if state not in STATUS_STATES:
            raise ValueError(f"commit status state {state!r} (one of {', '.join(STATUS_STATES)})")
        payload = {"name": name, "state": state, "target_url": target_url, "description": description}
        return self._enqueue(project_id, "status", sha, payload, now)

    def enqueue_note(self, project_id: int, mr_iid: int, pipeline: str, body: str, now: float) -> int:
        payload = {"mr_iid": mr_iid, "pipeline": pipeline, "body": body}
        return self._enqueue(project_id, "note", note_key(mr_iid, pipeline), payload, now)

    def _enqueue(self, project_id: int, kind: str, key: str, payload: dict[str, Any], now: float) -> int:
        with db.write(self._engine) as conn:
            new_id = conn.execute(insert(outbox).values(
                project_id=project_id, kind=kind, sha=key, payload=payload, state="pending", attempts=0,
                next_attempt_at=now, created_at=now).returning(outbox.c.id)).scalar_one()
        return int(new_id)

    # -- sending ------------------------------------------------------------------------------------------

    def claim_due(self, owner: str, now: float, lease_s: float, limit: int = 20) -> list[OutboxItem]:
        """Lease up to ``limit`` due items to ``owner``: at most one per ordering key, oldest first."""
        earlier = aliased(outbox)
        blocked = select(earlier.c.id).where(and_(
            earlier.c.project_id == outbox.c.project_id, earlier.c.sha == outbox.c.sha,
            earlier.c.state == "pending", earlier.c.id < outbox.c.id)).exists()
        query = (select(outbox)
                 .where(outbox.c.state == "pending", outbox.c.next_attempt_at <= now,
                        (outbox.c.lease_expires_at.is_(None)) | (outbox.c.lease_expires_at <= now),
                        ~blocked)
                 .order_by(outbox.c.id).limit(max(0, limit)))
        with db.write(self._engine) as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=outbox)
            rows = conn.execute(query).mappings().all()
            ids = [r["id"] for r in rows]
            if ids:
                conn.execute(update(outbox).where(outbox.c.id.in_(ids))
                             .values(lease_owner=owner, lease_expires_at=now + lease_s))
        return [_item({**r, "lease_owner": owner, "lease_expires_at": now + lease_s}) for r in rows]

    def mark_sent(self, item_id: int, now: float, owner: str | None = None) -> bool:
        """Record delivery; False when ``owner`` is given and no longer holds the lease (it was re-sent)."""
        return self._finish(item_id, owner, state="sent", sent_at=now, lease_owner=None, lease_expires_at=None)

    def retry(self, item_id: int, error: str, now: float, owner: str | None = None) -> str:
        """Count a failed attempt and schedule the next one; returns the new state (``pending``, or ``dead`` at
        last), ``lost`` when ``owner`` no longer holds the lease, ``gone`` when the item was deleted."""
        with db.write(self._engine) as conn:
            attempts = conn.execute(select(outbox.c.attempts).where(outbox.c.id == item_id)).scalar()
            if attempts is None:
                return "gone"
            attempts = int(attempts) + 1
            state = "dead" if attempts >= MAX_ATTEMPTS else "pending"
            if not self._update(conn, item_id, owner, attempts=attempts, state=state,
                                last_error=error[:ERROR_LIMIT], next_attempt_at=now + backoff(attempts),
                                lease_owner=None, lease_expires_at=None):
                return "lost"
        return state

    def give_up(self, item_id: int, error: str, now: float, owner: str | None = None) -> bool:
        """Mark an item ``dead`` now: retrying cannot help (a rejected token, a project that is gone)."""
        return self._finish(item_id, owner, state="dead", last_error=error[:ERROR_LIMIT],
                            attempts=outbox.c.attempts + 1, next_attempt_at=now, lease_owner=None,
                            lease_expires_at=None)

    def _finish(self, item_id: int, owner: str | None, **values: Any) -> bool:
        with db.write(self._engine) as conn:
            return self._update(conn, item_id, owner, **values)

    @staticmethod
    def _update(conn: Connection, item_id: int, owner: str | None, **values: Any) -> bool:
        query = update(outbox).where(outbox.c.id == item_id, outbox.c.state == "pending")
        if owner is not None:
            query = query.where(outbox.c.lease_owner == owner)
        return conn.execute(query.values(**values)).rowcount == 1

    # -- reading ------------------------------------------------------------------------------------------

    def get(self, item_id: int) -> OutboxItem:
        with db.read(self._engine) as conn:
            row = conn.execute(select(outbox).where(outbox.c.id == item_id)).mappings().first()
        if row is None:
            raise KeyError(item_id)
        return _item(row)

    def list(self, *, state: str | None = None, limit: int = 1000) -> list[OutboxItem]:
        query = select(outbox).order_by(outbox.c.id).limit(limit)
        if state is not None:
            query = query.where(outbox.c.state == state)
        with db.read(self._engine) as conn:
            return [_item(r) for r in conn.execute(query).mappings().all()]

    def counts(self) -> dict[str, int]:
        """Items per state (``pending``, ``sent``, ``dead``), for health checks."""
        with db.read(self._engine) as conn:
            rows = conn.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state)).all()
        return {str(state): int(n) for state, n in rows}

    # -- merge-request notes ------------------------------------------------------------------------------

    def note_id(self, project_id: int, mr_iid: int, pipeline: str) -> int | None:
        """The GitLab note that re-runs of ``pipeline`` on this merge request update in place."""
        with db.read(self._engine) as conn:
            found = conn.execute(select(mr_notes.c.note_id).where(
                mr_notes.c.project_id == project_id, mr_notes.c.mr_iid == mr_iid,
                mr_notes.c.pipeline == pipeline)).scalar()
        return None if found is None else int(found)

    def set_note_id(self, project_id: int, mr_iid: int, pipeline: str, note_id: int) -> None:
        key = {"project_id": project_id, "mr_iid": mr_iid, "pipeline": pipeline}
        with db.write(self._engine) as conn:
            done = conn.execute(update(mr_notes).where(
                mr_notes.c.project_id == project_id, mr_notes.c.mr_iid == mr_iid,
                mr_notes.c.pipeline == pipeline).values(note_id=note_id)).rowcount
            if not done:
                conn.execute(insert(mr_notes).values(**key, note_id=note_id))
