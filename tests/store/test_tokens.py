"""API tokens in the store, on SQLite and PostgreSQL: kept only as hashes, found by their secret, expiring,
revoked one at a time; and the runs a token limited to projects may see."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select, update

from wishstar.engine.store.api import Store
from wishstar.engine.store.errors import AmbiguousRun, RunNotFound
from wishstar.engine.store.models import api_tokens, run_leases, runs
from wishstar.engine.store.server import Projects
from wishstar.engine.store.tokens import ApiTokens, TokenError, TokenExists, TokenNotFound, looks_like_api_token
from wishstar.engine.store.visibility import list_runs_of, resolve_visible, run_project

NOW = 1_800_000_000.0


def test_a_token_is_stored_only_as_the_hash_of_its_secret(store: Store) -> None:
    record, token = ApiTokens(store).create("ci-bot", ["trigger", "read"], ["group/app"], now=NOW,
                                            expires_at=NOW + 90 * 86400)
    assert looks_like_api_token(token) and len(token) > 50
    with store.engine.connect() as conn:
        row = conn.execute(select(api_tokens)).mappings().one()
    assert token not in str(dict(row)) and token.rsplit("_", 1)[1] not in str(dict(row))
    assert (record.scopes, record.projects) == (("read", "trigger"), ("group/app",))


def test_a_token_is_recognised_by_its_secret_and_nothing_else(store: Store) -> None:
    tokens = ApiTokens(store)
    record, token = tokens.create("ci-bot", ["read"], None, now=NOW, expires_at=None)
    found = tokens.authenticate(token)
    assert found is not None and found.name == "ci-bot" and found.projects is None
    with store.engine.connect() as conn:
        assert conn.execute(select(api_tokens.c.id).where(api_tokens.c.projects.is_(None))).scalar() == record.id, \
            "every project is SQL NULL, not JSON null"
    token_id = record.id
    for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), f"wst_{token_id}_" + "x" * 43,
                  "hook-secret-for-tests", "", token + " ", "wst_ffffffffffffffff_" + token.rsplit("_", 1)[1]):
        assert tokens.authenticate(wrong) is None, wrong


def test_expiry_and_revocation_are_states_of_the_record(store: Store) -> None:
    tokens = ApiTokens(store)
    expiring, token = tokens.create("short", ["read"], None, now=NOW, expires_at=NOW + 10)
    assert expiring.state(NOW + 9) == "active" and expiring.state(NOW + 10) == "expired"
    tokens.create("kept", ["read"], None, now=NOW, expires_at=None)
    revoked = tokens.revoke("short", NOW + 1)
    assert revoked.state(NOW + 2) == "revoked" and tokens.revoke("short", NOW + 5).revoked_at == NOW + 1
    assert tokens.get("kept").state(NOW + 10**9) == "active", "--expires never"
    assert tokens.authenticate(token) is not None, "the caller decides, from the state, what to answer"


def test_a_valid_tokens_name_is_taken_and_a_dead_ones_can_be_reused(store: Store) -> None:
    tokens = ApiTokens(store)
    _, first = tokens.create("ci-bot", ["read"], None, now=NOW, expires_at=None)
    with pytest.raises(TokenExists, match="ci-bot"):
        tokens.create("ci-bot", ["read"], None, now=NOW, expires_at=None)
    tokens.revoke("ci-bot", NOW)
    _, second = tokens.create("ci-bot", ["operate"], None, now=NOW + 1, expires_at=None)
    assert tokens.authenticate(first) is None and tokens.get("ci-bot").scopes == ("operate",)
    assert tokens.authenticate(second) is not None


@pytest.mark.parametrize(("name", "scopes", "message"), [
    ("ci bot", ["read"], "token name"), ("ci-bot", [], "at least one --scope"),
    ("ci-bot", ["write"], 'unknown scope "write"'),
])
def test_a_bad_name_or_scope_is_refused_with_what_is_allowed(store: Store, name: str, scopes: list[str],
                                                             message: str) -> None:
    with pytest.raises(TokenError, match=message):
        ApiTokens(store).create(name, scopes, None, now=NOW, expires_at=None)


def test_revoking_an_unknown_token_names_it(store: Store) -> None:
    with pytest.raises(TokenNotFound, match='"nope"'):
        ApiTokens(store).revoke("nope", NOW)


def test_last_use_is_written_at_most_once_a_minute(store: Store) -> None:
    tokens = ApiTokens(store)
    _, token = tokens.create("ci-bot", ["read"], None, now=NOW, expires_at=None)
    first = tokens.authenticate(token)
    assert first is not None
    tokens.touch(first, NOW + 1)
    again = tokens.authenticate(token)
    assert again is not None and again.last_used_at == NOW + 1
    tokens.touch(again, NOW + 30)
    assert tokens.get("ci-bot").last_used_at == NOW + 1
    tokens.touch(again, NOW + 62)
    assert tokens.get("ci-bot").last_used_at == NOW + 62


def _project_run(store: Store, path: str, gitlab_id: int, run_id: str) -> None:
    found = Projects(store).find(path=path)
    project = found or Projects(store).add(gitlab_url="https://gl", gitlab_id=gitlab_id, path=path,
                                           hook_secret="s", now=NOW)
    made, _ = store.create_run("p", status="running", created_at=NOW + int(run_id[-1]))
    with store.engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == made).values(id=run_id))
        conn.execute(insert(run_leases).values(run_id=run_id, project_id=project.id, state="active"))


def test_a_limited_caller_sees_the_runs_of_its_projects_only(store: Store) -> None:
    _project_run(store, "group/app", 1, "abc000000001")
    _project_run(store, "group/other", 2, "abc000000002")
    _project_run(store, "group/app", 1, "abd000000003")
    store.create_run("local", status="succeeded")
    assert run_project(store, "abc000000002") == "group/other"
    assert resolve_visible(store, "abc", {"group/app"}) == "abc000000001"
    with pytest.raises(AmbiguousRun):
        resolve_visible(store, "ab", {"group/app"})
    with pytest.raises(RunNotFound):
        resolve_visible(store, "abc000000002", {"group/app"})
    with pytest.raises(RunNotFound):
        resolve_visible(store, "p#2", {"group/app"})  # group/other's run, by pipeline and number
    assert resolve_visible(store, "p#1", {"group/app"}) == "abc000000001"
    assert [r["id"] for r in list_runs_of(store, {"group/app"})] == ["abd000000003", "abc000000001"]
    assert [r["id"] for r in list_runs_of(store, {"group/app"}, limit=1)] == ["abd000000003"]
    assert list_runs_of(store, {"group/app"}, status="failed") == []
