"""The real server on loopback (uvicorn in a thread, a free port) over SQLite and PostgreSQL, and GitLab's headers.

PostgreSQL needs WISHSTAR_TEST_POSTGRES_URL; without it those tests skip with the reason, or fail when
CI_REQUIRE_POSTGRES=1 (as in tests/store/conftest.py). Each PostgreSQL test gets a schema of its own.
The server is started with ``start_workers=False``: these tests look at what the receiver stored, before any
worker claims it.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.store.conftest import fresh_schema_url
from wishstar.engine.store.api import Store
from wishstar.engine.store.server import Project, Projects
from wishstar.pipelines.settings import Settings
from wishstar.webhook.serve import server as make_server

GITLAB = "https://gitlab.example.com"
SECRET = "hook-secret-for-tests"
BACKENDS = [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


def gitlab_headers(event: str | None, token: str | None = SECRET, *, idempotency_key: str | None = None,
                   event_uuid: str | None = None, instance: str = GITLAB) -> dict[str, str]:
    """The headers GitLab 17.5 sends with a delivery (a fresh Idempotency-Key unless one is given)."""
    headers = {"Content-Type": "application/json", "User-Agent": "GitLab/17.5.0", "X-Gitlab-Instance": instance,
               "X-Gitlab-Event-UUID": event_uuid or str(uuid.uuid4()),
               "X-Gitlab-Webhook-UUID": str(uuid.uuid4())}
    if event is not None:
        headers["X-Gitlab-Event"] = event
    if token is not None:
        headers["X-Gitlab-Token"] = token
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return headers


@dataclass
class Live:
    """A running server, a client for it, and a store on the same database for the test's own reads."""

    url: str
    store: Store
    client: httpx.Client
    settings: Settings

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def add_project(self, gitlab_id: int, path: str, secret: str = SECRET) -> Project:
        return Projects(self.store).add(gitlab_url=GITLAB, gitlab_id=gitlab_id, path=path, hook_secret=secret,
                                        now=time.time())


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str) -> Iterator[str | None]:
    """None (SQLite in the state directory), or a PostgreSQL URL whose search_path is a fresh schema."""
    if backend == "sqlite":
        yield None
        return
    with fresh_schema_url() as url:
        yield url


def _wait_started(server: Any, thread: threading.Thread) -> None:
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.01)


@pytest.fixture
def start_server(database_url: str | None, tmp_path: Path) -> Iterator[Callable[..., Live]]:
    """Starts a server with the given settings overrides; stops it (and closes everything) afterwards."""
    running: list[tuple[Any, threading.Thread, Live]] = []

    def _start(**overrides: Any) -> Live:
        settings = Settings(state_dir=tmp_path / "state", database_url=database_url, **overrides)
        store = Store.open(database_url, settings.state_dir)  # migrates before the server opens it
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        server = make_server(settings, start_workers=False, log_level="warning")
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        _wait_started(server, thread)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        live = Live(url, store, httpx.Client(base_url=url, timeout=30), settings)
        running.append((server, thread, live))
        return live

    yield _start
    for server, thread, live in running:
        server.should_exit = True
        thread.join(15)
        live.client.close()
        live.store.close()


@pytest.fixture
def live(start_server: Callable[..., Live]) -> Live:
    return start_server()
