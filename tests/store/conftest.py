"""Fixtures that run every store test on SQLite and on PostgreSQL.

PostgreSQL tests need WISHSTAR_TEST_POSTGRES_URL (``scripts/postgres.sh start`` prints one). Without it they
skip with a reason, unless CI_REQUIRE_POSTGRES=1, when they fail: CI must not pass by skipping them. Each
PostgreSQL test gets a schema of its own (via ``search_path``), dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from wishstar.engine.store import Store

BACKENDS = [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


def postgres_url() -> str:
    url = os.environ.get("WISHSTAR_TEST_POSTGRES_URL")
    if url:
        return url
    message = ("WISHSTAR_TEST_POSTGRES_URL is not set "
               "(run: export WISHSTAR_TEST_POSTGRES_URL=$(scripts/postgres.sh start))")
    if os.environ.get("CI_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"CI_REQUIRE_POSTGRES=1 but {message}")
    pytest.skip(reason=message)


def _with_search_path(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path) -> Iterator[str | None]:
    """None for SQLite in tmp_path; for PostgreSQL, a URL whose search_path is a fresh schema."""
    if backend == "sqlite":
        yield None
        return
    with fresh_schema_url() as url:
        yield url


@contextmanager
def fresh_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a schema of its own, dropped afterwards."""
    base = postgres_url()
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _with_search_path(base, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        admin.dispose()


@pytest.fixture
def open_store(store_url: str | None, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Opens stores on the same database (as separate processes would); closes them all afterwards."""
    opened: list[Store] = []

    def _open() -> Store:
        store = Store.open(store_url, tmp_path / "state")
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], Store]) -> Store:
    return open_store()
