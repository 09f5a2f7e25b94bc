"""The receiver's rules as functions: bounded body reading, delivery keys, token comparison, JSON errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from wishstar.engine.store.server import Project
from wishstar.pipelines.settings import Settings
from wishstar.webhook.app import create_app
from wishstar.webhook.routes.hooks import BodyTooLarge, delivery_key, read_capped, token_matches

CHUNK = 16 * 1024


class Counting:
    """An endless body that counts what was taken from it."""

    def __init__(self) -> None:
        self.taken = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            self.taken += CHUNK
            yield b"x" * CHUNK


def test_reading_stops_at_the_limit_plus_one_chunk() -> None:
    body = Counting()
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_capped(body.chunks(), 100 * 1024))
    assert body.taken <= 100 * 1024 + CHUNK


def test_a_body_within_the_limit_is_read_whole() -> None:
    async def two() -> AsyncIterator[bytes]:
        yield b"ab"
        yield b"cd"

    assert asyncio.run(read_capped(two(), 4)) == b"abcd"


def test_idempotency_key_wins_over_the_body() -> None:
    assert delivery_key(1, "Push Hook", "k-1", b"a") == delivery_key(1, "Push Hook", "k-1", b"b") == "idem:1:k-1"


def test_keys_are_scoped_by_project() -> None:
    assert delivery_key(1, "Push Hook", "k", b"a") != delivery_key(2, "Push Hook", "k", b"a")
    assert delivery_key(1, "Push Hook", None, b"a") != delivery_key(2, "Push Hook", None, b"a")


def test_without_idempotency_key_the_key_is_the_header_and_body_digest() -> None:
    key = delivery_key(1, "Push Hook", None, b"{}")
    assert key.startswith("body:1:") and len(key) == len("body:1:") + 64
    assert key != delivery_key(1, "System Hook", None, b"{}")
    assert key == delivery_key(1, "Push Hook", "  ", b"{}")


def test_long_or_unprintable_idempotency_keys_are_hashed_to_fit_the_column() -> None:
    assert len(delivery_key(123456, "Push Hook", "k" * 5000, b"")) < 200
    assert "\n" not in delivery_key(1, "Push Hook", "a\nb", b"")


def _project(secret: str) -> Project:
    return Project(id=1, gitlab_url="https://gitlab.example.com", gitlab_id=15, path="mike/diaspora",
                   clone_url=None, hook_secret=secret, api_token=None, hook_id=None, fork_secrets=False,
                   statuses_per_task=False, mr_notes=False, created_at=0.0)


def test_token_matches_only_the_projects_secret() -> None:
    assert token_matches(_project("s3cret"), "s3cret")
    assert not token_matches(_project("s3cret"), "s3cre")
    assert not token_matches(None, "s3cret")


def test_an_unexpected_error_is_answered_as_json_without_a_trace(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from wishstar.webhook.access import OPEN, ROUTE_RULES

    monkeypatch.setitem(ROUTE_RULES, ("GET", "/boom"), OPEN)
    app = create_app(Settings(state_dir=tmp_path), start_workers=False)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}


def test_the_openapi_schema_lists_every_route(tmp_path: Path) -> None:
    paths = create_app(Settings(state_dir=tmp_path), start_workers=False).openapi()["paths"]
    assert sorted(paths) == ["/api/deployments", "/api/events", "/api/events/{event_id}",
                             "/api/projects/{project}/deployments", "/api/runs", "/api/runs/{ref}",
                             "/api/runs/{ref}/cancel", "/api/runs/{ref}/deployments",
                             "/api/runs/{ref}/logs/{task}", "/api/tokens",
                             "/api/tokens/{name}", "/healthz", "/hooks/gitlab"]
