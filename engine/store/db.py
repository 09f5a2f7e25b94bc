"""Connecting to the run store's database and bringing its schema to the current revision.

Why: every process that opens the store (CLI, webhook, runner) must see the same schema, on SQLite by default
and on PostgreSQL when a URL is given, without an ``alembic`` command line. Startup time matters, so a store
already at head costs one indexed read of ``alembic_version``; migrating takes a lock (an immediate
transaction on SQLite, an advisory lock on PostgreSQL) so that two processes opening a new database at once
do not both create tables. Must not hold queries about runs: those live in ``engine.store.api``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.config import Config

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, ProgrammingError

from wishstar.engine.store.errors import StoreUnavailable

HEAD = "0007_deployments"
"""The newest migration in ``migrations/versions``; a test checks it against Alembic's own idea of head."""

_PACKAGE_DIR = Path(__file__).resolve().parent
_WRITE = "wishstar_write"
_MIGRATION_LOCK = 0x57495348  # "WISH": the PostgreSQL advisory lock key taken while migrating
SQLITE_BUSY_TIMEOUT_MS = 30_000


def sqlite_url(state_dir: Path) -> str:
    return f"sqlite:///{state_dir / 'wishstar.db'}"


def make_engine(url: str) -> Engine:
    """An engine with the per-dialect settings the store relies on (WAL, foreign keys, immediate writes)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


URL_HINT = "(hint: WISHSTAR_DATABASE_URL is sqlite:///PATH or postgresql+psycopg://USER@HOST/DB; see docs/store.md)"


def connect(url: str, fix: str = URL_HINT) -> Engine:
    """``make_engine`` and ``migrate``; ``StoreUnavailable`` (the URL without its password, the reason and
    ``fix``) when the URL cannot be parsed, its driver is missing or the database refuses."""
    shown = _shown_url(url)
    try:
        engine = make_engine(url)
    except ArgumentError as exc:
        raise StoreUnavailable(f"cannot open the run store {shown}: {exc} {fix}") from None
    except ImportError as exc:
        raise StoreUnavailable(f"cannot open the run store {shown}: its database driver is not installed "
                               f"({exc}) {fix}") from None
    try:
        migrate(engine)
    except DBAPIError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
        raise StoreUnavailable(f"cannot open the run store {shown}: {reason} {fix}") from None
    return engine


def _shown_url(url: str) -> str:
    """The URL as it may be printed: never its password (an unparseable URL is not printed at all)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(WISHSTAR_DATABASE_URL is not a URL)"


def _enable_wal(cur: Any) -> None:
    """WAL mode is stored in the database file, so only the first connection switches it. Switching needs an
    exclusive lock that SQLite does not wait for (the busy handler is not consulted), so several processes
    opening a new database at once retry here instead of failing with "database is locked"."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves: pysqlite's implicit BEGIN is deferred, and a deferred transaction
        # that later writes can fail with "database is locked" instead of waiting for busy_timeout.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A transaction that intends to write: on SQLite it takes the write lock up front and waits for it."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{_WRITE: True})
        with conn.begin():
            yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn


def current_revision(conn: Connection) -> str | None:
    """The revision recorded in ``alembic_version``, or None for an empty database."""
    try:
        with conn.begin_nested():
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):
        return None


def alembic_config() -> Config:  # alembic is imported only when a migration is due (start-up time)
    """The packaged alembic.ini, with ``script_location`` resolved next to this module."""
    from alembic.config import Config

    cfg = Config(str(_PACKAGE_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(_PACKAGE_DIR / "migrations"))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to head; a no-op costing one query when it is already there."""
    with read(engine) as conn:
        if current_revision(conn) == HEAD:
            return
    with write(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        if current_revision(conn) == HEAD:
            return
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        from alembic import command

        command.upgrade(cfg, "head")
