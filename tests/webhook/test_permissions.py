"""Who may do what: every route of the OpenAPI document against every kind of caller, plus the rules around it
(open reading, hook secrets versus API tokens, invisible projects, the audit log).

The matrix is generated from the app's own routes: a route added without a rule in
``webhook.access.ROUTE_RULES`` gets no expected answer and fails here (and ``create_app`` refuses it).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import insert, update

from tests.webhook.conftest import GITLAB, SECRET, gitlab_headers
from tests.webhook.payloads import documented
from wishstar.engine.store.api import Store, TaskRow
from wishstar.engine.store.models import run_leases, runs
from wishstar.engine.store.server import Events, Projects
from wishstar.engine.store.tokens import ApiTokens
from wishstar.pipelines.settings import Settings
from wishstar.webhook.access import ROUTE_RULES, Rule, rule_for
from wishstar.webhook.app import RouteWithoutRule, create_app

CALLERS = ["no token", "expired", "revoked", "hook secret", "read", "trigger", "operate", "admin",
           "another project"]
SCOPES_OF = {"read": ["read"], "trigger": ["trigger"], "operate": ["operate"], "admin": ["admin"],
             "another project": ["read", "trigger", "operate", "admin"]}
MINE, OTHER = "group/app", "group/other"


def _operations() -> list[tuple[str, str]]:
    paths = create_app(Settings(state_dir=Path("/nonexistent")), start_workers=False).openapi()["paths"]
    return sorted((method.upper(), path) for path, item in paths.items() for method in item)


OPERATIONS = _operations()


@dataclass
class World:
    """An app over SQLite with two projects, a run and an event of ``group/app``, and a token per caller."""

    client: TestClient
    store: Store
    run_id: str
    event_id: str
    tokens: dict[str, str]

    def new_token(self, *scopes: str, projects: list[str] | None = None, expires_at: float | None = None) -> str:
        name = f"t-{uuid.uuid4().hex[:8]}"
        return ApiTokens(self.store).create(name, list(scopes), projects, now=time.time(), expires_at=expires_at)[1]

    def headers(self, caller: str) -> dict[str, str]:
        if caller == "no token":
            return {}
        token = SECRET if caller == "hook secret" else self.tokens[caller]
        return {"Authorization": f"Bearer {token}"}

    def url(self, path: str) -> str:
        victim = ApiTokens(self.store).create(f"victim-{uuid.uuid4().hex[:8]}", ["read"], None, now=time.time(),
                                              expires_at=None)[0].name
        return path.format(ref=self.run_id, task="test", event_id=self.event_id, name=victim, project=MINE)


def _server_run(store: Store, project_id: int, pipeline: str, *, run_id: str | None = None) -> str:
    """A run as a webhook's worker records it: with a lease naming its project."""
    made, _ = store.create_run(pipeline, git={"branch": "main"}, event="push", status="running")
    with store.engine.begin() as conn:
        if run_id is not None:
            conn.execute(update(runs).where(runs.c.id == made).values(id=run_id))
        conn.execute(insert(run_leases).values(run_id=run_id or made, project_id=project_id, state="active"))
    return run_id or made


def _make_world(tmp_path: Path, **settings: Any) -> Iterator[World]:
    app = create_app(Settings(state_dir=tmp_path / "state", **settings), start_workers=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        store: Store = app.state.store
        projects = Projects(store)
        mine = projects.add(gitlab_url=GITLAB, gitlab_id=15, path=MINE, hook_secret=SECRET, now=time.time())
        projects.add(gitlab_url=GITLAB, gitlab_id=16, path=OTHER, hook_secret="other-secret", now=time.time())
        run_id = _server_run(store, mine.id, "app")
        store.upsert_tasks(run_id, [TaskRow(name="test", status="running")])
        event_id, _ = Events(store).add(delivery_key="k1", kind="push", header="Push Hook", payload={},
                                        project_id=mine.id, now=time.time())
        world = World(client, store, run_id, event_id, {})
        world.tokens = {caller: world.new_token(*scopes, projects=[OTHER] if caller == "another project" else None)
                        for caller, scopes in SCOPES_OF.items()}
        world.tokens["expired"] = world.new_token("read", "trigger", "operate", "admin", expires_at=time.time() - 1)
        world.tokens["revoked"] = world.new_token("read", "trigger", "operate", "admin")
        name = ApiTokens(store).authenticate(world.tokens["revoked"])
        assert name is not None
        ApiTokens(store).revoke(name.name, time.time())
        yield world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from _make_world(tmp_path_factory.mktemp("permissions"))


def expected(rule: Rule, caller: str) -> int | str:
    """The status a caller gets from a route with this rule: a number, or "allowed" (2xx)."""
    if rule.kind != "token":
        return "allowed"
    if caller in ("no token", "expired", "revoked", "hook secret"):
        return 401
    if rule.scope not in SCOPES_OF[caller]:
        return 403
    if caller == "another project":
        if rule.every_project:
            return 403
        if rule.run is not None or rule.event is not None or rule.project is not None:
            return 404
    return "allowed"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_route_answers_each_caller_as_its_rule_says(world: World, method: str, path: str,
                                                          caller: str) -> None:
    rule = rule_for(method, path)
    assert rule is not None, f"{method} {path} has no rule in webhook.access.ROUTE_RULES"
    if rule.kind == "hook":
        return _hook_refuses_api_tokens(world, caller)
    response = world.client.request(method, world.url(path), headers=world.headers(caller))
    want = expected(rule, caller)
    if want == "allowed":
        assert 200 <= response.status_code < 300, (response.status_code, response.text)
    else:
        assert response.status_code == want, (response.status_code, response.text)
    if want == 401:
        assert response.headers["www-authenticate"].startswith("Bearer"), response.headers
    if caller == "another project" and want == "allowed" and path.endswith(("/runs", "/events", "/api/deployments")):
        assert response.json() == [], "a list shows nothing of a project the token does not see"


def _hook_refuses_api_tokens(world: World, caller: str) -> None:
    """The receiver takes the project's hook secret only: an API token in X-Gitlab-Token is refused."""
    token = world.tokens.get(caller)
    if token is None:
        return
    headers = gitlab_headers("Push Hook", token=token)
    response = world.client.post("/hooks/gitlab", content=json.dumps(documented("push")), headers=headers)
    assert response.status_code == 401, response.text


def test_every_rule_belongs_to_a_route_of_the_app() -> None:
    assert sorted(ROUTE_RULES) == OPERATIONS


def test_the_rules_are_the_documented_policy() -> None:
    """docs/server.md, "Who may use the API": the scope each route needs (the matrix follows the table, this
    pins the table itself)."""
    needs = {f"{m} {p}": (r.kind if r.kind != "token" else r.scope) + ("*" if r.every_project else "")
             for (m, p), r in ROUTE_RULES.items()}
    assert needs == {
        "POST /hooks/gitlab": "hook", "GET /healthz": "open",
        "GET /api/runs": "read", "GET /api/runs/{ref}": "read", "GET /api/runs/{ref}/logs/{task}": "read",
        "GET /api/events": "read", "GET /api/events/{event_id}": "read",
        "GET /api/runs/{ref}/deployments": "read", "GET /api/projects/{project}/deployments": "read",
        "GET /api/deployments": "read",
        "POST /api/runs/{ref}/cancel": "operate",
        "GET /api/tokens": "admin*", "DELETE /api/tokens/{name}": "admin*",
    }
    assert all(rule.changes_state or rule.kind == "hook" for (method, _), rule in ROUTE_RULES.items()
               if method != "GET"), "a route that changes state needs a token with a scope beyond read"


def test_a_route_added_without_a_rule_stops_the_app_from_being_built(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from wishstar.webhook import app as app_module

    extra = APIRouter()

    @extra.post("/api/runs/{ref}/retry")
    def retry(ref: str) -> None:
        """A route someone forgot to give a rule."""

    monkeypatch.setattr(app_module, "tokens", type("M", (), {"router": extra}))
    with pytest.raises(RouteWithoutRule, match=r"POST /api/runs/\{ref\}/retry"):
        app_module.create_app(Settings(state_dir=tmp_path), start_workers=False)


@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS if op[0] != "GET"],
                         ids=[f"{m} {p}" for m, p in OPERATIONS if m != "GET"])
def test_no_route_that_changes_state_answers_2xx_without_a_token(world: World, method: str, path: str) -> None:
    response = world.client.request(method, world.url(path), headers={"Content-Type": "application/json"},
                                    content=json.dumps(documented("push")))
    assert not 200 <= response.status_code < 300, (response.status_code, response.text)


def test_a_run_of_an_invisible_project_gets_the_answer_of_a_run_that_does_not_exist(world: World) -> None:
    run_id = _server_run(world.store, Projects(world.store).resolve(MINE).id, "app")
    world.store.upsert_tasks(run_id, [TaskRow(name="test", status="running")])
    headers = world.headers("another project")
    hidden = world.client.get(f"/api/runs/{run_id}", headers=headers)
    missing = world.client.get("/api/runs/ffffffffffff", headers=headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"] == missing.json()["detail"].replace("ffffffffffff", run_id)
    assert world.client.get(f"/api/runs/{run_id}/logs/test", headers=headers).status_code == 404
    assert world.client.post(f"/api/runs/{run_id}/cancel", headers=headers).status_code == 404
    assert not world.store.cancel_requested(run_id)


def test_an_id_prefix_is_resolved_among_the_visible_runs_only(tmp_path: Path) -> None:
    for w in _make_world(tmp_path):
        projects = {p.path: p.id for p in Projects(w.store).list()}
        mine = _server_run(w.store, projects[MINE], "app", run_id="abc000000001")
        _server_run(w.store, projects[OTHER], "other", run_id="abc000000002")
        token = w.new_token("read", projects=[MINE])
        answer = w.client.get("/api/runs/abc", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and answer.json()["id"] == mine, answer.text
        everywhere = w.client.get("/api/runs/abc", headers=w.headers("read"))
        assert everywhere.status_code == 409, "a token of every project sees both runs"


def test_a_token_limited_to_a_project_lists_only_its_runs_and_events(world: World) -> None:
    token = world.new_token("read", projects=[MINE])
    headers = {"Authorization": f"Bearer {token}"}
    world.store.create_run("local-run", status="succeeded")  # wishstar run on the machine: no project
    _server_run(world.store, Projects(world.store).resolve(OTHER).id, "other")
    seen = [r["id"] for r in world.client.get("/api/runs", headers=headers).json()]
    assert world.run_id in seen and all(world.store.get_run(r).pipeline == "app" for r in seen)
    assert [e["id"] for e in world.client.get("/api/events", headers=headers).json()] == [world.event_id]
    assert world.client.get(f"/api/events/{world.event_id}", headers=headers).status_code == 200


def test_reading_can_be_opened_while_changes_still_need_a_token(tmp_path: Path) -> None:
    for w in _make_world(tmp_path, api_read="open"):
        assert w.client.get("/api/runs").status_code == 200
        assert w.client.get(f"/api/runs/{w.run_id}/logs/test").status_code == 200
        assert w.client.post(f"/api/runs/{w.run_id}/cancel").status_code == 401
        assert w.client.get("/api/tokens").status_code == 401
        assert w.client.get("/api/runs", headers=w.headers("expired")).status_code == 401, \
            "a token that is presented must be valid even where reading is open"
        assert w.client.get(f"/api/runs/{w.run_id}", headers=w.headers("trigger")).status_code == 200, \
            "a valid token without the read scope reads no less than nobody"
        assert w.client.get(f"/api/runs/{w.run_id}", headers=w.headers("another project")).status_code == 200


def test_a_hook_secret_is_not_an_api_token_and_an_api_token_is_not_a_hook_secret(world: World) -> None:
    secret_as_bearer = world.client.get("/api/runs", headers={"Authorization": f"Bearer {SECRET}"})
    assert secret_as_bearer.status_code == 401
    token = world.new_token("read")
    Projects(world.store).add(gitlab_url=GITLAB, gitlab_id=77, path="group/same", hook_secret=token,
                              now=time.time())
    payload = documented("push")
    payload["project"]["id"] = payload["project_id"] = 77
    payload["project"]["path_with_namespace"] = "group/same"
    answer = world.client.post("/hooks/gitlab", content=json.dumps(payload),
                               headers=gitlab_headers("Push Hook", token=token))
    assert answer.status_code == 401, "even a hook secret equal to an API token is refused"


def test_a_revoked_token_is_refused_from_the_next_request_on(world: World) -> None:
    token = world.new_token("read", "admin")
    headers = {"Authorization": f"Bearer {token}"}
    record = ApiTokens(world.store).authenticate(token)
    assert record is not None and world.client.get("/api/runs", headers=headers).status_code == 200
    revoked = world.client.delete(f"/api/tokens/{record.name}", headers=world.headers("admin"))
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    refused = world.client.get("/api/runs", headers=headers)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_the_token_list_never_shows_a_token(world: World) -> None:
    listed = world.client.get("/api/tokens", headers=world.headers("admin"))
    assert listed.status_code == 200 and len(listed.json()) >= len(world.tokens)
    for token in world.tokens.values():
        assert token not in listed.text and token.rsplit("_", 1)[1] not in listed.text


def test_every_refusal_is_an_audit_event_with_who_what_and_where_but_never_the_token(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wishstar.audit")
    world.client.get("/api/runs")
    world.client.get("/api/runs", headers=world.headers("expired"))
    world.client.post(f"/api/runs/{world.run_id}/cancel", headers=world.headers("read"))
    world.client.get(f"/api/runs/{world.run_id}", headers=world.headers("another project"))
    events = [r.audit for r in caplog.records if hasattr(r, "audit")]  # type: ignore[attr-defined]
    assert [(e["event"], e["status"], e["reason"]) for e in events] == [
        ("request_refused", 401, "no token"), ("request_refused", 401, "expired token"),
        ("request_refused", 403, "scope missing"),
        ("request_refused", 404, "a run of a project the token does not see")]
    assert events[0]["who"] is None and events[1]["who"] is not None
    assert all(e["from"] == "testclient" and e["what"].startswith(("GET /api/runs", "POST /api/runs/{ref}"))
               for e in events)
    logged = caplog.text
    assert not any(token in logged or token.split("_", 2)[2] in logged for token in world.tokens.values())


def test_grants_that_differ_per_project_answer_403_where_seen_and_404_where_not(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a GitLab login will build (Reporter on one project, Developer on another): the rules and answers
    need nothing new."""
    from wishstar.webhook import auth
    from wishstar.webhook.access import Principal

    member = Principal("alice", "token", {MINE: frozenset({"read"}), OTHER: frozenset({"read", "operate"})})
    monkeypatch.setattr(auth, "token_principal", lambda *_: member)
    headers = world.headers("read")
    run_of_mine = _server_run(world.store, Projects(world.store).resolve(MINE).id, "app")
    run_of_other = _server_run(world.store, Projects(world.store).resolve(OTHER).id, "other")
    refused = world.client.post(f"/api/runs/{run_of_mine}/cancel", headers=headers)
    assert refused.status_code == 403 and "on this run's project" in refused.json()["detail"]
    assert world.client.post(f"/api/runs/{run_of_other}/cancel", headers=headers).status_code == 202
    outsider = Principal("bob", "token", {OTHER: frozenset({"read", "operate"})})
    monkeypatch.setattr(auth, "token_principal", lambda *_: outsider)
    assert world.client.post(f"/api/runs/{run_of_mine}/cancel", headers=headers).status_code == 404
    assert not world.store.cancel_requested(run_of_mine)


def test_a_database_that_does_not_answer_is_503_not_a_trace(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from wishstar.engine.store.errors import DatabaseError

    def down(*_: object) -> None:
        raise DatabaseError("connection refused", None, None)

    monkeypatch.setattr(ApiTokens, "authenticate", down)
    answer = world.client.get("/api/runs", headers=world.headers("read"))
    assert answer.status_code == 503 and answer.json() == {"detail": "the database does not answer; retry later"}


def test_a_refused_delivery_is_an_audit_event_too(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wishstar.audit")
    body = json.dumps(documented("push"))
    world.client.post("/hooks/gitlab", content=body, headers=gitlab_headers("Push Hook", token="guessed-secret"))
    world.client.post("/hooks/gitlab", content=body, headers=gitlab_headers("Push Hook", token=None))
    events = [r.audit for r in caplog.records if hasattr(r, "audit")]  # type: ignore[attr-defined]
    assert [(e["what"], e["status"], e["reason"]) for e in events] == [
        ("POST /hooks/gitlab", 401, "wrong token or unknown project"),
        ("POST /hooks/gitlab", 401, "missing X-Gitlab-Token")]
    assert "guessed-secret" not in caplog.text
