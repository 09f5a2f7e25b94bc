"""The REST API on the real server: runs in the shapes of ``wishstar runs list|show --output json``, logs streamed,
cancel, stored events with their reasons, health. The client holds a token with the read and operate scopes on
every project (who may do what is tests/webhook/test_permissions.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.webhook.conftest import Live, gitlab_headers
from tests.webhook.payloads import documented
from wishstar.engine.store import shape
from wishstar.engine.store.api import TaskRow

RUN_KEYS = ["id", "pipeline", "number", "status", "reason", "event", "git", "params", "started_at", "finished_at",
            "tasks"]
SUMMARY_KEYS = ["id", "pipeline", "number", "status", "reason", "event", "branch", "commit", "created_at",
                "started_at", "finished_at"]


@pytest.fixture
def live(live: Live) -> Live:
    live.authorize("read", "operate")
    return live


def _run_with_a_log(live: Live, log_text: bytes) -> str:
    store = live.store
    run_id, _ = store.create_run("shop-api", git={"branch": "main", "commit": "a" * 40}, event="push",
                                 status="running", created_at=1_700_000_000.0)
    store.upsert_tasks(run_id, [TaskRow(name="test", status="succeeded", started_at=1_700_000_001.0,
                                        finished_at=1_700_000_002.0, exit_code=0, attempts=1),
                                TaskRow(name="deploy", status="pending")])
    log = store.logs.step_path(run_id, "test", 1, "main")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(log_text)
    store.record_step(run_id, "test", 1, "main", exit_code=0, log_path=str(log), size=len(log_text))
    return run_id


def test_run_show_has_the_documented_shape_and_equals_the_store(live: Live) -> None:
    run_id = _run_with_a_log(live, b"ok\n")
    response = live.client.get(f"/api/runs/{run_id}")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == RUN_KEYS
    assert body == json.loads(json.dumps(shape.run_dict(live.store.get_run(run_id))))
    assert [t["name"] for t in body["tasks"]] == ["test", "deploy"]
    assert body["tasks"][0]["steps"][0]["name"] == "main"


def test_run_is_found_by_pipeline_and_number(live: Live) -> None:
    run_id = _run_with_a_log(live, b"")
    assert live.client.get("/api/runs/shop-api%231").json()["id"] == run_id


def test_run_list_has_the_summary_shape_and_the_cli_filters(live: Live) -> None:
    run_id = _run_with_a_log(live, b"")
    other, _ = live.store.create_run("docs", git={"branch": "dev"}, status="failed")
    everything = live.client.get("/api/runs").json()
    assert [r["id"] for r in everything] == [other, run_id]
    assert list(everything[0]) == SUMMARY_KEYS
    assert [r["id"] for r in live.client.get("/api/runs", params={"branch": "main"}).json()] == [run_id]
    assert [r["id"] for r in live.client.get("/api/runs", params={"status": "failed"}).json()] == [other]
    assert [r["id"] for r in live.client.get("/api/runs", params={"pipeline": "docs"}).json()] == [other]
    assert len(live.client.get("/api/runs", params={"limit": 1}).json()) == 1


@pytest.mark.parametrize("query", [{"status": "bogus"}, {"limit": 0}, {"limit": "many"}])
def test_bad_run_filters_get_422_with_details(live: Live, query: dict[str, object]) -> None:
    response = live.client.get("/api/runs", params=query)
    assert response.status_code == 422
    assert response.json()["detail"]


def test_unknown_run_gets_404_with_the_store_message(live: Live) -> None:
    response = live.client.get("/api/runs/ffffffffffff")
    assert response.status_code == 404
    assert "no run matches" in response.json()["detail"]


def test_cancel_sets_the_flag_the_running_process_polls(live: Live) -> None:
    run_id = _run_with_a_log(live, b"")
    response = live.client.post(f"/api/runs/{run_id}/cancel")
    assert response.status_code == 202
    assert response.json() == {"id": run_id, "status": "running", "already_ended": False}
    assert live.store.cancel_requested(run_id)


def test_task_log_is_streamed_as_written(live: Live) -> None:
    text = b"".join(b"line %d\n" % i for i in range(50_000))  # ~600 KiB: several chunks
    run_id = _run_with_a_log(live, text)
    with live.client.stream("GET", f"/api/runs/{run_id}/logs/test") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        chunks = list(response.iter_raw())
    assert b"".join(chunks) == text


def test_log_of_an_unknown_task_gets_404_with_a_hint(live: Live) -> None:
    run_id = _run_with_a_log(live, b"")
    response = live.client.get(f"/api/runs/{run_id}/logs/tset")
    assert response.status_code == 404
    assert 'did you mean "test"' in response.json()["detail"]


def test_log_paths_outside_the_state_directory_are_not_served(live: Live, tmp_path: Path) -> None:
    run_id = _run_with_a_log(live, b"")
    outside = tmp_path / "elsewhere.log"
    outside.write_bytes(b"not yours")
    live.store.record_step(run_id, "test", 1, "main", log_path=str(outside))
    assert live.client.get(f"/api/runs/{run_id}/logs/test").content == b""


def test_events_list_shows_status_and_skip_reasons(live: Live) -> None:
    live.add_project(15, "mike/diaspora")
    deleted = documented("push")
    deleted["after"] = "0" * 40
    for payload in (documented("push"), deleted):
        live.client.post("/hooks/gitlab", content=json.dumps(payload), headers=gitlab_headers("Push Hook"))
    events = live.client.get("/api/events").json()
    assert sorted((e["status"], e["reason"]) for e in events) == [("pending", None), ("skipped", "branch deleted")]
    skipped = live.client.get("/api/events", params={"status": "skipped"}).json()
    assert [e["kind"] for e in skipped] == ["push"]
    assert "payload" not in skipped[0]
    assert live.client.get(f"/api/events/{skipped[0]['id']}").json() == skipped[0]
    assert live.client.get("/api/events/nope").status_code == 404


def test_healthz_says_ok_when_the_database_answers(live: Live) -> None:
    assert live.client.get("/healthz").json() == {"status": "ok", "database": "ok"}
