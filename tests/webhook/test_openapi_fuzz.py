"""Schemathesis against the server's own OpenAPI document: no generated request gets a 5xx (property-based:
bodies, headers, paths and queries the schema allows, and shapes it does not)."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from wishstar.pipelines.settings import Settings
from wishstar.webhook.app import create_app


def test_no_operation_of_the_api_answers_a_server_error(tmp_path: Path) -> None:
    app = create_app(Settings(state_dir=tmp_path / "state"), start_workers=False)
    with TestClient(app):  # runs the lifespan: the store is open while the cases are sent
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 6
        for operation in operations:
            @given(case=operation.as_strategy())
            @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def no_server_error(case: schemathesis.Case) -> None:
                response = case.call()
                assert response.status_code < 500, (case.method, case.formatted_path, response.text[:200])

            no_server_error()
