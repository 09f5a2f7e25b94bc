"""Claiming work with row leases: webhook events, and runs (with their concurrency groups), across replicas.

Why: several ``wishstar serve`` replicas share one database and no in-memory queue; whoever holds a row's
lease works on it, renews the lease with a heartbeat, and a dead replica's rows are claimed again once its
leases expire. On PostgreSQL a claim is ``SELECT ... FOR UPDATE SKIP LOCKED`` (replicas never wait on each
other's candidates) plus a transaction-scoped advisory lock per concurrency group, so two replicas cannot both
fill a group's last slot; on SQLite every claim is one ``BEGIN IMMEDIATE`` transaction, which serialises them.
An event becomes its run atomically (run row, run lease and the event's ``done`` in one transaction), so an
event makes at most one run even when its claim expires and another replica retries it.

Must not run anything, read the clock or know about GitLab: callers pass ``now`` and the owner's name.
"""

from __future__ import annotations

import os
import secrets
import socket
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, text, update

from wishstar.engine.spec.errors import WishstarError
from wishstar.engine.status import ENDED_RUN_STATUSES, WAITING_LEASE_STATES
from wishstar.engine.store import db
from wishstar.engine.store.api import Store
from wishstar.engine.store.models import events, run_leases, runs
from wishstar.engine.store.server import StoredEvent

MAX_EVENT_ATTEMPTS = 5
"""An event whose claim expired this often (its worker died each time) is failed instead of retried."""


class LeaseLost(WishstarError):
    """This replica no longer holds the lease it acted under (it expired and another replica took it)."""


@dataclass(frozen=True)
class ClaimedRun:
    run_id: str
    event_id: str | None
    project_id: int | None
    takeover: bool
    """True when the run was active under another owner whose lease expired."""
    previous_owner: str | None


@dataclass(frozen=True)
class NewRun:
    """What ``create_run`` records for an event (the run's git context is untrusted data, stored as is)."""

    pipeline: str
    git: Mapping[str, Any]
    event: str
    params: Mapping[str, Any] | None = None
    executor: str | None = None
    file: str | None = None
    status: str = "pending"
    reason: str | None = None
    group: str | None = None
    limit: int = 1
    newer: str = "queue"


@dataclass(frozen=True)
class Created:
    run_id: str
    number: int
    superseded: tuple[str, ...]
    """Older runs of the group this run cancelled (``newer: cancel``): queued ones are already cancelled,
    active ones have ``cancel_requested`` set for the replica driving them."""


def _pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _group_lock(conn: Connection, group: str) -> None:
    if _pg(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(group.encode())})


class Leases:
    """Claims, heartbeats and releases of events and runs; every method is one short transaction."""

    def __init__(self, store: Store) -> None:
        self._engine = store.engine

    # -- events ---------------------------------------------------------------------------------------

    def claim_event(self, owner: str, now: float, lease_s: float) -> StoredEvent | None:
        """The oldest pending event (or one whose claim expired), now claimed by ``owner``; None if none."""
        claimable = or_(events.c.status == "pending",
                        and_(events.c.status == "claimed", events.c.lease_expires_at < now))
        with db.write(self._engine) as conn:
            while True:
                query = select(events).where(claimable).order_by(events.c.received_at).limit(1)
                if _pg(conn):
                    query = query.with_for_update(skip_locked=True)
                row = conn.execute(query).mappings().first()
                if row is None:
                    return None
                if row["attempts"] >= MAX_EVENT_ATTEMPTS:
                    conn.execute(update(events).where(events.c.id == row["id"]).values(
                        status="failed", lease_owner=None, lease_expires_at=None,
                        reason=f"given up after {row['attempts']} attempts (the replicas working on it died)"))
                    continue
                values = {"status": "claimed", "lease_owner": owner, "lease_expires_at": now + lease_s,
                          "attempts": row["attempts"] + 1}
                conn.execute(update(events).where(events.c.id == row["id"]).values(**values))
                return StoredEvent(**{**dict(row), **values})

    def finish_event(self, event_id: str, owner: str, status: str, reason: str | None = None,
                     run_id: str | None = None) -> None:
        """End an event this owner holds (done, skipped, failed or ignored); ``LeaseLost`` if it does not."""
        with db.write(self._engine) as conn:
            changed = conn.execute(update(events).where(
                events.c.id == event_id, events.c.status == "claimed", events.c.lease_owner == owner,
            ).values(status=status, reason=reason, run_id=run_id, lease_owner=None,
                     lease_expires_at=None)).rowcount
        if changed == 0:
            raise LeaseLost(f"event {event_id} is no longer claimed by {owner}")

    def create_run(self, event_id: str, owner: str, now: float, new: NewRun, *, project_id: int | None
                   ) -> Created:
        """Record the event's run, its lease (queued; ``done`` for a run recorded as already finished) and the
        event ``done``, in one transaction. ``LeaseLost`` if the event is no longer this owner's."""
        run_id = secrets.token_hex(6)
        finished = new.status in ENDED_RUN_STATUSES
        with db.write(self._engine) as conn:
            held = conn.execute(select(events.c.id).where(
                events.c.id == event_id, events.c.status == "claimed", events.c.lease_owner == owner)).first()
            if held is None:
                raise LeaseLost(f"event {event_id} is no longer claimed by {owner}")
            number = Store._allocate_number(conn, new.pipeline)
            git = dict(new.git)
            conn.execute(runs.insert().values(
                id=run_id, pipeline=new.pipeline, number=number, status=new.status, reason=new.reason,
                params=dict(new.params or {}), git=git, branch=git.get("branch"), event=new.event,
                executor=new.executor, file=new.file, host=socket.gethostname(), pid=os.getpid(),
                created_at=now, finished_at=now if finished else None, cancel_requested=False))
            superseded: tuple[str, ...] = ()
            if new.group is not None and not finished:
                _group_lock(conn, new.group)
                if new.newer == "cancel":
                    superseded = self._supersede(conn, new.group, run_id, now)
            conn.execute(run_leases.insert().values(
                run_id=run_id, owner=None, expires_at=None, event_id=event_id, project_id=project_id,
                concurrency_group=new.group, concurrency_limit=new.limit, state="done" if finished else "queued"))
            conn.execute(update(events).where(events.c.id == event_id).values(
                status="done", run_id=run_id, lease_owner=None, lease_expires_at=None))
        return Created(run_id, number, superseded)

    @staticmethod
    def _supersede(conn: Connection, group: str, newer_id: str, now: float) -> tuple[str, ...]:
        older = conn.execute(select(run_leases.c.run_id, run_leases.c.state).where(
            run_leases.c.concurrency_group == group, run_leases.c.state.in_(WAITING_LEASE_STATES),
            run_leases.c.run_id != newer_id)).all()
        reason = f"superseded by run {newer_id} (concurrency group {group!r}, newer: cancel)"
        for run_id, state in older:
            if state == "queued":
                conn.execute(update(runs).where(runs.c.id == run_id).values(
                    status="cancelled", reason=reason, finished_at=now))
                conn.execute(update(run_leases).where(run_leases.c.run_id == run_id).values(state="done"))
            else:
                conn.execute(update(runs).where(runs.c.id == run_id).values(cancel_requested=True))
        return tuple(r for r, _ in older)

    # -- runs -----------------------------------------------------------------------------------------

    def claim_run(self, owner: str, now: float, lease_s: float, *, host: str | None = None,
                  pid: int | None = None) -> ClaimedRun | None:
        """A run to drive: an active run whose owner's lease expired (takeover) first, else the oldest queued
        run whose concurrency group has room. None when there is nothing to do. ``host``/``pid`` (the
        claiming process) become the run's owner in the same transaction, so an active lease's run always
        names the process holding it (``recover`` relies on that)."""
        expired = and_(run_leases.c.state == "active", run_leases.c.expires_at < now)
        claimable = or_(run_leases.c.state == "queued", expired)
        with db.write(self._engine) as conn:
            query = (select(run_leases).join(runs, runs.c.id == run_leases.c.run_id).where(claimable)
                     .order_by((run_leases.c.state == "queued"), runs.c.created_at).limit(20))
            if _pg(conn):
                query = query.with_for_update(skip_locked=True, of=run_leases)
            for row in conn.execute(query).mappings().all():
                takeover = row["state"] == "active"
                if not takeover and row["concurrency_group"] is not None and not self._room(conn, dict(row)):
                    continue
                conn.execute(update(run_leases).where(run_leases.c.run_id == row["run_id"]).values(
                    owner=owner, expires_at=now + lease_s, state="active"))
                if host is not None and pid is not None:
                    conn.execute(update(runs).where(runs.c.id == row["run_id"]).values(host=host, pid=pid))
                return ClaimedRun(row["run_id"], row["event_id"], row["project_id"], takeover,
                                  row["owner"] if takeover else None)
        return None

    @staticmethod
    def _room(conn: Connection, row: Mapping[str, Any]) -> bool:
        group = str(row["concurrency_group"])
        _group_lock(conn, group)
        active = conn.execute(select(func.count()).select_from(run_leases).where(
            run_leases.c.concurrency_group == group, run_leases.c.state == "active")).scalar_one()
        if active >= (row["concurrency_limit"] or 1):
            return False
        # FIFO within the group: an older queued run of the group goes first.
        older = conn.execute(select(func.count()).select_from(run_leases)
                             .join(runs, runs.c.id == run_leases.c.run_id).where(
            run_leases.c.concurrency_group == group, run_leases.c.state == "queued",
            runs.c.created_at < select(runs.c.created_at).where(runs.c.id == row["run_id"]).scalar_subquery(),
        )).scalar_one()
        return bool(older == 0)

    def renew(self, owner: str, now: float, lease_s: float) -> tuple[set[str], set[str]]:
        """The heartbeat: extend every lease ``owner`` still holds; returns (event ids, run ids) held."""
        until = now + lease_s
        with db.write(self._engine) as conn:
            mine_events = and_(events.c.status == "claimed", events.c.lease_owner == owner)
            conn.execute(update(events).where(mine_events).values(lease_expires_at=until))
            held_events = set(conn.execute(select(events.c.id).where(mine_events)).scalars())
            held_runs = self._renew_runs(conn, owner, until)
        return held_events, held_runs

    def renew_runs(self, owner: str, now: float, lease_s: float) -> set[str]:
        """Extend ``owner``'s run leases; returns the run ids it still holds."""
        with db.write(self._engine) as conn:
            return self._renew_runs(conn, owner, now + lease_s)

    @staticmethod
    def _renew_runs(conn: Connection, owner: str, until: float) -> set[str]:
        mine = and_(run_leases.c.state == "active", run_leases.c.owner == owner)
        conn.execute(update(run_leases).where(mine).values(expires_at=until))
        return set(conn.execute(select(run_leases.c.run_id).where(mine)).scalars())

    def release(self, run_id: str, owner: str, state: str = "done") -> bool:
        """End (``done``) or give back (``queued``) a run lease this owner holds; False if it holds none."""
        values: dict[str, Any] = {"state": state, "expires_at": None}
        if state == "queued":
            values["owner"] = None
        with db.write(self._engine) as conn:
            return bool(conn.execute(update(run_leases).where(
                run_leases.c.run_id == run_id, run_leases.c.owner == owner, run_leases.c.state == "active",
            ).values(**values)).rowcount)

    def expire(self, run_id: str, owner: str) -> bool:
        """Give up a run mid-way (shutting down): its lease expires now, so another replica resumes it."""
        with db.write(self._engine) as conn:
            return bool(conn.execute(update(run_leases).where(
                run_leases.c.run_id == run_id, run_leases.c.owner == owner, run_leases.c.state == "active",
            ).values(expires_at=0.0)).rowcount)

    def recover(self, owner: str, host: str, is_alive: Callable[[str, int], bool]) -> list[tuple[str, str | None]]:
        """At a replica's start: make the runs a dead engine process left claimable now, instead of after
        their leases expire; returns their ids. Those are the active run leases held under ``owner`` (a
        previous process of this replica, e.g. a restarted ``wishstar serve --replica-id``: left alone, its
        heartbeat would renew them forever) and those whose driving process ran on ``host`` and is gone
        (``is_alive(host, pid)`` False: a pid reused since counts as alive, so that run simply waits for its
        lease to expire). Returns (run id, the owner that held it). Their owner is cleared, so no heartbeat
        renews them; the next ``claim_run`` takes them over. Events this owner had claimed are released the
        same way."""
        with db.write(self._engine) as conn:
            active = conn.execute(select(run_leases.c.run_id, run_leases.c.owner, runs.c.host, runs.c.pid)
                                  .join(runs, runs.c.id == run_leases.c.run_id)
                                  .where(run_leases.c.state == "active")).all()
            dead = []
            for run_id, held_by, run_host, pid in active:
                if held_by != owner and (run_host != host or pid is None or is_alive(host, pid)):
                    continue
                unchanged = (run_leases.c.owner.is_(None) if held_by is None else run_leases.c.owner == held_by)
                if conn.execute(update(run_leases).where(  # unless another replica claimed it meanwhile
                        run_leases.c.run_id == run_id, run_leases.c.state == "active", unchanged,
                ).values(owner=None, expires_at=0.0)).rowcount:
                    dead.append((run_id, held_by))
            conn.execute(update(events).where(events.c.status == "claimed", events.c.lease_owner == owner)
                         .values(lease_owner=None, lease_expires_at=0.0))
        return dead

    def lease_of(self, run_id: str) -> dict[str, Any] | None:
        with db.read(self._engine) as conn:
            row = conn.execute(select(run_leases).where(run_leases.c.run_id == run_id)).mappings().first()
        return dict(row) if row is not None else None
