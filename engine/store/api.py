"""The run store: runs, their tasks and steps, as the CLI, the webhook and the runner record and read them.

Why: one small API over SQLAlchemy Core that behaves the same on SQLite (the default, one file under the state
directory) and PostgreSQL (several engine processes sharing one database). Build numbers come from a counter
row per pipeline, bumped with an upsert that holds the row lock until the run row is inserted, so numbers are
unique and increase in commit order even with concurrent writers. Must not read the clock for run data
(callers pass epoch seconds; only ``created_at`` defaults to now) and must not hold log contents: step logs
are files (``engine.store.logs``), the store keeps their paths and sizes.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, exists, null, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from wishstar.engine.records import RunRecord, RunSummary, StepRecord
from wishstar.engine.status import ACTIVE_RUN_STATUSES, RUN_STATUSES, TASK_STATUSES
from wishstar.engine.store import db, deploy_record
from wishstar.engine.store.errors import AmbiguousRun, InvalidStatus, RunNotFound
from wishstar.engine.store.logs import LogStore
from wishstar.engine.store.models import pipelines, run_leases, runs, steps, tasks
from wishstar.engine.store.rows import step_record, summary_fields, summary_record, task_record

_HEX = re.compile(r"[0-9a-f]{1,32}")
_ACTIVE = ACTIVE_RUN_STATUSES
_SUMMARY_COLUMNS = (runs.c.id, runs.c.pipeline, runs.c.number, runs.c.status, runs.c.reason, runs.c.event,
                    runs.c.branch, runs.c.git, runs.c.created_at, runs.c.started_at, runs.c.finished_at)


@dataclass(frozen=True)
class TaskRow:
    """One task instance's state as the runner sees it; ``upsert_tasks`` writes many in one transaction."""

    name: str
    status: str = "pending"
    base: str | None = None
    is_finally: bool = False
    reason: str | None = None
    attempts: int = 0
    exit_code: int | None = None
    results: Mapping[str, str] = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None
    position: int | None = None
    """Order in ``get_run``; None keeps the stored position, or appends a new task after the others."""


@dataclass(frozen=True)
class StepRow:
    """One step of one task attempt, as ``record_steps`` writes it (``bytes``: what reached its log)."""

    task: str
    attempt: int
    name: str
    exit_code: int | None = None
    started_at: float | None = None
    finished_at: float | None = None
    log_path: str | None = None
    truncated: bool = False
    bytes: int = 0
    position: int = 0


@dataclass(frozen=True)
class RunOrigin:
    """What ``Store.origin`` returns: the run's executor, pipeline file, executor target and owner."""

    run_id: str
    executor: str | None
    file: str | None
    target: dict[str, Any] | None
    host: str | None
    pid: int | None


def _shallow(row: TaskRow | StepRow) -> dict[str, Any]:
    """A row's fields as a dict (``dataclasses.asdict`` deep-copies, which the hot path cannot afford)."""
    return {f.name: getattr(row, f.name) for f in fields(row)}


def process_is_alive(host: str, pid: int) -> bool:
    """A default for ``reap_orphans``: a process on this host is checked; one elsewhere is assumed alive."""
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which knows ``ON CONFLICT`` (SQLite and PostgreSQL spell it alike)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _check(kind: str, status: str, allowed: tuple[str, ...]) -> None:
    if status not in allowed:
        raise InvalidStatus(kind, status, allowed)


class Store:
    """Runs, tasks and steps in a SQL database. Thread-safe; open one per process and share it."""

    def __init__(self, engine: Engine, state_dir: Path) -> None:
        self._engine = engine
        self.state_dir = state_dir
        self.logs = LogStore(state_dir)

    @classmethod
    def open(cls, url: str | None, state_dir: Path) -> Store:
        """Open (creating and migrating as needed) the store; ``url`` None means SQLite in ``state_dir``."""
        if url is None:
            state_dir.mkdir(parents=True, exist_ok=True)
            hint = "(hint: the store is wishstar.db in the state directory, --state-dir or WISHSTAR_STATE_DIR)"
            return cls(db.connect(db.sqlite_url(state_dir), hint), state_dir)
        return cls(db.connect(url), state_dir)

    @property
    def engine(self) -> Engine:
        return self._engine

    def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        try:
            with db.read(self.engine) as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- runs -----------------------------------------------------------------------------------------

    def create_run(self, pipeline: str, *, params: Mapping[str, Any] | None = None,
                   git: Mapping[str, Any] | None = None, event: str | None = None,
                   executor: str | None = None, file: str | None = None, host: str | None = None,
                   pid: int | None = None, status: str = "pending", created_at: float | None = None,
                   target: Mapping[str, Any] | None = None) -> tuple[str, int]:
        """Record a new run and allocate its build number; returns ``(id, number)``.

        ``host``/``pid`` name the owning process (default: this one), so ``reap_orphans`` can tell
        when it died. ``target`` says where the executor's objects live (for Kubernetes: namespace,
        kubeconfig, context), so the run can be resumed or cancelled after that process died.
        """
        _check("run", status, RUN_STATUSES)
        git_data = dict(git or {})
        values = {
            "pipeline": pipeline, "status": status, "params": dict(params or {}), "git": git_data,
            "branch": git_data.get("branch"), "event": event, "executor": executor, "file": file,
            "target": dict(target) if target is not None else null(),  # SQL NULL, not JSON null
            "host": host if host is not None else socket.gethostname(),
            "pid": pid if pid is not None else os.getpid(),
            "created_at": created_at if created_at is not None else time.time(), "cancel_requested": False,
        }
        for attempt in range(5):
            run_id = secrets.token_hex(6)
            try:
                with db.write(self._engine) as conn:
                    number = self._allocate_number(conn, pipeline)
                    conn.execute(runs.insert().values(id=run_id, number=number, **values))
                return run_id, number
            except IntegrityError:  # an id collision (48 random bits): try another id
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _allocate_number(conn: Connection, pipeline: str) -> int:
        stmt = _insert(conn, pipelines).values(name=pipeline, last_number=1)
        stmt = stmt.on_conflict_do_update(index_elements=["name"],
                                          set_={"last_number": pipelines.c.last_number + 1})
        return int(conn.execute(stmt.returning(pipelines.c.last_number)).scalar_one())

    def set_run_status(self, run_id: str, status: str, reason: str | None = None, *,
                       started_at: float | None = None, finished_at: float | None = None) -> None:
        """Set status and reason (None clears it); timestamps are only written when given."""
        _check("run", status, RUN_STATUSES)
        values: dict[str, Any] = {"status": status, "reason": reason}
        if started_at is not None:
            values["started_at"] = started_at
        if finished_at is not None:
            values["finished_at"] = finished_at
        self._update_run(run_id, values)

    def set_run_owner(self, run_id: str, host: str, pid: int) -> None:
        """Hand a run to another process (e.g. a worker picking up a webhook's run)."""
        self._update_run(run_id, {"host": host, "pid": pid})

    def _update_run(self, run_id: str, values: Mapping[str, Any]) -> None:
        with db.write(self._engine) as conn:
            if conn.execute(update(runs).where(runs.c.id == run_id).values(**values)).rowcount == 0:
                raise RunNotFound(run_id)

    def request_cancel(self, ref: str) -> str:
        """Ask the process running the run to cancel it; returns the run id. Safe to repeat."""
        run_id = self.resolve(ref)
        self._update_run(run_id, {"cancel_requested": True})
        return run_id

    def cancel_requested(self, run_id: str) -> bool:
        """Polled by the runner; an indexed read by primary key."""
        with db.read(self._engine) as conn:
            flag = conn.execute(select(runs.c.cancel_requested).where(runs.c.id == run_id)).scalar()
        if flag is None:
            raise RunNotFound(run_id)
        return bool(flag)

    def delete_run(self, ref: str) -> str:
        """Delete a run with its tasks, steps and log files; returns the run id."""
        run_id = self.resolve(ref)
        with db.write(self._engine) as conn:
            conn.execute(delete(steps).where(steps.c.run_id == run_id))
            conn.execute(delete(tasks).where(tasks.c.run_id == run_id))
            conn.execute(delete(runs).where(runs.c.id == run_id))
        shutil.rmtree(self.logs.run_dir(run_id), ignore_errors=True)
        return run_id

    def active_runs(self) -> list[str]:
        """Ids of runs that have not ended (pending or running, orphans included)."""
        with db.read(self._engine) as conn:
            return [row[0] for row in conn.execute(select(runs.c.id).where(runs.c.status.in_(_ACTIVE)))]

    def ended_before(self, cutoff: float, *, limit: int | None = None) -> list[str]:
        """Ids of runs that ended (succeeded, failed, cancelled) before ``cutoff`` (epoch seconds), oldest
        first, at most ``limit``: what ``wishstar runs prune`` deletes (an index on ``finished_at`` serves it)."""
        query = (select(runs.c.id).where(runs.c.status.not_in(_ACTIVE), runs.c.finished_at.is_not(None),
                                          runs.c.finished_at < cutoff)
                 .order_by(runs.c.finished_at).limit(limit))
        with db.read(self._engine) as conn:
            return [row[0] for row in conn.execute(query)]

    def reap_orphans(self, is_alive: Callable[[str, int], bool] = process_is_alive, *,
                     now: float | None = None) -> list[str]:
        """Fail pending/running runs whose owning process is gone; returns their ids.

        Kubernetes runs are left active: their Pods outlived the process and may still be running, so they
        are orphans (``orphans``) to resume or cancel, not failures. Server runs (those with a lease row) are
        left active too: the replica that claims their expired lease finishes them (``Leases.recover``,
        ``engine.resume``), whatever their executor. The update is conditional on the run still being
        active and owned by the same process, so a run that finished (or was handed over) meanwhile is left
        alone. ``finished_at`` is set only when ``now`` is given.
        """
        reaped = []
        for run_id, host, pid, executor in self._ownerless(is_alive, without_lease=True):
            if executor == "kubernetes":
                continue
            reason = f"the process running it (host {host}, pid {pid}) is gone"
            if self.end_owned_run(run_id, host, pid, "failed", reason, now=now):
                reaped.append(run_id)
        return reaped

    def orphans(self, is_alive: Callable[[str, int], bool] = process_is_alive, *,
                created_before: float | None = None) -> list[str]:
        """Active Kubernetes runs with a recorded ``target`` whose owning process is gone (``reap_orphans``
        leaves them active), optionally only those created before ``created_before`` (``runs prune``). A
        server run has no target: a replica takes it over by its lease."""
        return [run_id for run_id, _, _, executor in self._ownerless(is_alive, with_target=True,
                                                                     created_before=created_before)
                if executor == "kubernetes"]

    def _ownerless(self, is_alive: Callable[[str, int], bool], *, with_target: bool = False,
                   without_lease: bool = False, created_before: float | None = None
                   ) -> list[tuple[str, str, int, str | None]]:
        query = select(runs.c.id, runs.c.host, runs.c.pid, runs.c.executor).where(runs.c.status.in_(_ACTIVE))
        if without_lease:
            query = query.where(~exists().where(run_leases.c.run_id == runs.c.id))
        if with_target:
            query = query.where(runs.c.target.is_not(None))
        if created_before is not None:
            query = query.where(runs.c.created_at < created_before)
        with db.read(self._engine) as conn:
            active = conn.execute(query).all()
        return [(run_id, host, pid, executor) for run_id, host, pid, executor in active
                if host is not None and pid is not None and not is_alive(host, pid)]

    def origin(self, ref: str) -> RunOrigin:
        """Who drives the run and where its executor works (not part of ``get_run``'s public shape: a
        kubeconfig path and a pid are this machine's business, not the REST API's)."""
        run_id = self.resolve(ref)
        with db.read(self._engine) as conn:
            row = conn.execute(select(runs.c.executor, runs.c.file, runs.c.target, runs.c.host, runs.c.pid)
                               .where(runs.c.id == run_id)).first()
        if row is None:
            raise RunNotFound(ref)
        return RunOrigin(run_id, row.executor, row.file, dict(row.target) if row.target is not None else None,
                         row.host, row.pid)

    def take_over(self, run_id: str, host: str, pid: int, *, new_host: str | None = None,
                  new_pid: int | None = None) -> bool:
        """Make this process (or ``new_host``/``new_pid``) the owner of an active run still owned by
        ``host``/``pid``; False when it is not (finished, or another process took it first)."""
        values = {"host": new_host if new_host is not None else socket.gethostname(),
                  "pid": new_pid if new_pid is not None else os.getpid()}
        with db.write(self._engine) as conn:
            stmt = (update(runs).values(**values)
                    .where(runs.c.id == run_id, runs.c.status.in_(_ACTIVE), runs.c.host == host, runs.c.pid == pid))
            return bool(conn.execute(stmt).rowcount)

    def end_owned_run(self, run_id: str, host: str, pid: int, status: str, reason: str, *,
                      now: float | None = None) -> bool:
        """End an active run owned by ``host``/``pid``: the run and its running tasks get ``status`` and
        ``reason``, its pending tasks are cancelled. False when the run is no longer active or that
        process's. ``finished_at`` is set only when ``now`` is given."""
        _check("run", status, RUN_STATUSES)
        values: dict[str, Any] = {"status": status, "reason": reason}
        if now is not None:
            values["finished_at"] = now
        with db.write(self._engine) as conn:
            stmt = (update(runs).values(**values)
                    .where(runs.c.id == run_id, runs.c.status.in_(_ACTIVE),
                           runs.c.host == host, runs.c.pid == pid))
            if conn.execute(stmt).rowcount == 0:
                return False
            in_run = tasks.c.run_id == run_id
            conn.execute(update(tasks).where(in_run, tasks.c.status == "running").values(**values))
            conn.execute(update(tasks).where(in_run, tasks.c.status == "pending")
                         .values(status="cancelled", reason=reason))
        return True

    # -- tasks and steps ------------------------------------------------------------------------------

    def upsert_tasks(self, run_id: str, rows: Iterable[TaskRow | Mapping[str, Any]], *,
                     upstream: Mapping[str, Mapping[str, str]] | None = None) -> None:
        """Insert or update many task rows in one transaction (one statement, executemany). A succeeded task
        with ``RELEASE_NAME`` and ``RELEASE_REVISION`` results records its deployment in the same transaction
        (``engine.store.deploy_record``; ``upstream``: task -> the image results of its upstream image task)."""
        items = [r if isinstance(r, TaskRow) else TaskRow(**r) for r in rows]
        if not items:
            return
        try:
            with db.write(self._engine) as conn:
                self._upsert_tasks(conn, run_id, items, upstream or {})
        except IntegrityError as exc:
            raise RunNotFound(run_id) from exc

    def _upsert_tasks(self, conn: Connection, run_id: str, items: list[TaskRow],
                      upstream: Mapping[str, Mapping[str, str]]) -> None:
        for item in items:
            _check("task", item.status, TASK_STATUSES)
        deployed, warnings = deploy_record.prepare(conn, run_id, items, upstream)
        positions = self._positions(conn, run_id, items)
        values = [{**_shallow(item), "run_id": run_id, "base": item.base or item.name,
                   "results": dict(item.results), "position": positions[item.name],
                   "reason": deploy_record.with_warnings(item.reason, warnings.get(item.name, ()))}
                  for item in items]
        stmt = _insert(conn, tasks)
        keep = {"run_id", "name", "position"}
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id", "name"],
            set_={c.name: stmt.excluded[c.name] for c in tasks.c if c.name not in keep})
        conn.execute(stmt, values)
        deploy_record.insert(conn, deployed)

    @staticmethod
    def _positions(conn: Connection, run_id: str, items: list[TaskRow]) -> dict[str, int]:
        positions = {i.name: i.position for i in items if i.position is not None}
        if len(positions) == len(items):
            return positions
        stored = {name: position for name, position in
                  conn.execute(select(tasks.c.name, tasks.c.position).where(tasks.c.run_id == run_id))}
        following = max(stored.values(), default=-1) + 1
        for item in items:
            if item.name in positions:
                continue
            if item.name in stored:
                positions[item.name] = stored[item.name]
            else:
                positions[item.name] = following
                following += 1
        return positions

    def record_step(self, run_id: str, task: str, attempt: int, name: str, *, exit_code: int | None = None,
                    started_at: float | None = None, finished_at: float | None = None,
                    log_path: str | None = None, truncated: bool = False, size: int = 0,
                    position: int = 0) -> None:
        """Insert or update one step of one task attempt (``size``: bytes written to its log)."""
        self.record_steps(run_id, [StepRow(task, attempt, name, exit_code, started_at, finished_at, log_path,
                                           truncated, size, position)])

    def record_steps(self, run_id: str, rows: Iterable[StepRow], tasks_rows: Iterable[TaskRow] = (), *,
                     upstream: Mapping[str, Mapping[str, str]] | None = None) -> None:
        """Insert or update many steps (and, optionally, task rows, recording deployments as ``upsert_tasks``
        does) in one transaction: the runner batches what happened since its last flush into one write."""
        items = [{"run_id": run_id, **_shallow(row)} for row in rows]
        task_items = list(tasks_rows)
        if not items and not task_items:
            return
        try:
            with db.write(self._engine) as conn:
                if task_items:
                    self._upsert_tasks(conn, run_id, task_items, upstream or {})
                if items:
                    stmt = _insert(conn, steps)
                    key = ("run_id", "task", "attempt", "name")
                    stmt = stmt.on_conflict_do_update(
                        index_elements=list(key),
                        set_={c: stmt.excluded[c] for c in items[0] if c not in key})
                    conn.execute(stmt, items)
        except IntegrityError as exc:
            raise RunNotFound(run_id) from exc

    # -- reading --------------------------------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        """A run id from an id, a unique id prefix, or ``pipeline#number``."""
        with db.read(self._engine) as conn:
            pipeline, sep, number = ref.rpartition("#")
            if sep and number.isdigit():
                found = conn.execute(select(runs.c.id).where(runs.c.pipeline == pipeline,
                                                             runs.c.number == int(number))).scalar()
                if found is None:
                    raise RunNotFound(ref)
                return str(found)
            if not _HEX.fullmatch(ref):
                raise RunNotFound(ref)
            # A range on the primary key, not LIKE: SQLite's LIKE is case-insensitive and skips the index.
            ids = conn.execute(select(runs.c.id).where(runs.c.id >= ref, runs.c.id < ref + "g")
                               .order_by(runs.c.id).limit(6)).scalars().all()
        if ref in ids:
            return ref
        if not ids:
            raise RunNotFound(ref)
        if len(ids) > 1:
            raise AmbiguousRun(ref, list(ids))
        return str(ids[0])

    def get_run(self, ref: str) -> RunRecord:
        """The run with its tasks (plan order) and their steps; ``shape.run_dict`` gives its JSON shape."""
        run_id = self.resolve(ref)
        with db.read(self._engine) as conn:
            run = conn.execute(select(runs).where(runs.c.id == run_id)).first()
            if run is None:
                raise RunNotFound(ref)
            task_rows = conn.execute(select(tasks).where(tasks.c.run_id == run_id)
                                     .order_by(tasks.c.position, tasks.c.name)).all()
            step_rows = conn.execute(select(steps).where(steps.c.run_id == run_id)
                                     .order_by(steps.c.task, steps.c.attempt, steps.c.position,
                                               steps.c.started_at, steps.c.name)).all()
        by_task: dict[str, list[StepRecord]] = {}
        for row in step_rows:
            by_task.setdefault(row.task, []).append(step_record(row))
        return RunRecord(**summary_fields(run), params=dict(run.params or {}),
                         tasks=tuple(task_record(t, by_task.get(t.name, ())) for t in task_rows))

    def list_runs(self, status: str | None = None, branch: str | None = None, pipeline: str | None = None,
                  limit: int = 50) -> list[RunSummary]:
        """Newest first; each filter narrows, and each combination has an index that serves it."""
        query = select(*_SUMMARY_COLUMNS)
        if status is not None:
            _check("run", status, RUN_STATUSES)
            query = query.where(runs.c.status == status)
        if branch is not None:
            query = query.where(runs.c.branch == branch)
        if pipeline is not None:
            query = query.where(runs.c.pipeline == pipeline)
        query = query.order_by(runs.c.created_at.desc()).limit(max(0, limit))
        with db.read(self._engine) as conn:
            rows = conn.execute(query).all()
        return [summary_record(r) for r in rows]

