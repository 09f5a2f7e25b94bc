"""Schemathesis against the server's own OpenAPI document: no generated request gets a 5xx (property-based:
bodies, headers, paths and queries the schema allows, and shapes it does not), without a token, with a token
of every scope, and with a token limited to one project."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from wishstar.engine.store.server import Projects
from wishstar.engine.store.tokens import ApiTokens
from wishstar.pipelines.settings import Settings
from wishstar.webhook.app import create_app


def _fuzz(operation: Any, headers: dict[str, str], seen: set[tuple[str, int]]) -> None:
    """Send generated cases of one operation; every answer must be below 500 (and is noted in ``seen``)."""
    route = f"{operation.method.upper()} {operation.path}"

    @given(case=operation.as_strategy())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def no_server_error(case: schemathesis.Case) -> None:
        response = case.call(headers=headers)
        assert response.status_code < 500, (case.method, case.formatted_path, response.text[:200])
        seen.add((route, response.status_code))

    no_server_error()


@pytest.mark.parametrize("caller", ["no token", "every scope", "one project"])
def test_no_operation_of_the_api_answers_a_server_error(tmp_path: Path, caller: str) -> None:
    app = create_app(Settings(state_dir=tmp_path / "state"), start_workers=False)
    with TestClient(app):  # runs the lifespan: the store is open while the cases are sent
        store = app.state.store
        Projects(store).add(gitlab_url="https://gitlab.example.com", gitlab_id=1, path="group/app",
                            hook_secret="s", now=time.time())
        store.create_run("app", status="running")
        headers: dict[str, str] = {}
        if caller != "no token":
            projects = ["group/app"] if caller == "one project" else None
            token = ApiTokens(store).create("fuzz", ["read", "trigger", "operate", "admin"], projects,
                                            now=time.time(), expires_at=None)[1]
            headers = {"Authorization": f"Bearer {token}"}
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 8
        seen: set[tuple[str, int]] = set()
        for operation in operations:
            _fuzz(operation, headers, seen)
    listed = {code for route, code in seen if route == "GET /api/runs"}
    if caller == "no token":
        assert listed == {401}, listed
    else:
        assert 200 in listed and listed <= {200, 422}, listed
