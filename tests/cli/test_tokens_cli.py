"""``wishstar tokens create|list|revoke`` as an operator runs them on the server's machine: the token is printed
once, never listed, limited to named projects or explicitly to all, expiring unless told otherwise, and each
creation and revocation is an audit line without the token."""

from __future__ import annotations

import json
import time
from datetime import datetime

from tests.cli.conftest import Cli
from wishstar.engine.store.api import Store
from wishstar.engine.store.server import Projects
from wishstar.engine.store.tokens import ApiTokens


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_a_created_token_is_printed_once_and_then_only_described(cli: Cli) -> None:
    made = cli("tokens", "create", "--name", "admin-alice", "--scope", "admin", "--scope", "read",
               "--all-projects")
    assert made.code == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("wst_") and "\n" not in token
    assert "read, admin on every project" in made.stderr and token not in made.stderr
    audit = json.loads(next(line for line in made.stderr.splitlines() if line.startswith("audit "))[6:])
    assert (audit["event"], audit["token"], audit["from"]) == ("token_created", "admin-alice", "cli")
    listed = cli("tokens", "list")
    assert listed.code == 0 and "admin-alice" in listed.stdout and "read,admin" in listed.stdout
    data = cli("tokens", "list", "--output", "json").json()
    assert [(t["name"], t["projects"], t["state"]) for t in data] == [("admin-alice", None, "active")]
    assert token not in listed.stdout + listed.stderr and token.rsplit("_", 1)[1] not in json.dumps(data)


def test_a_token_expires_after_the_configured_days_unless_told_never(cli: Cli) -> None:
    before = time.time()
    assert cli("tokens", "create", "--name", "week", "--scope", "read", "--all-projects",
               env={"WISHSTAR_TOKEN_EXPIRY_DAYS": "7"}).code == 0
    assert cli("tokens", "create", "--name", "forever", "--scope", "read", "--all-projects",
               "--expires", "never").code == 0
    assert cli("tokens", "create", "--name", "month", "--scope", "read", "--all-projects",
               "--expires", "30d").code == 0
    data = {t["name"]: t for t in cli("tokens", "list", "--output", "json").json()}
    assert abs(_stamp(data["week"]["expires_at"]) - (before + 7 * 86400)) < 60
    assert abs(_stamp(data["month"]["expires_at"]) - (before + 30 * 86400)) < 60
    assert data["forever"]["expires_at"] is None
    assert "never" in cli("tokens", "list").stdout


def test_a_token_names_its_projects_or_says_all_of_them(cli: Cli) -> None:
    neither = cli("tokens", "create", "--name", "x", "--scope", "read")
    assert neither.code == 2 and "--project group/app (repeatable) or --all-projects" in neither.stderr
    unknown = cli("tokens", "create", "--name", "x", "--scope", "read", "--project", "group/nope")
    assert unknown.code == 2 and "--project group/nope: no such registered project" in unknown.stderr
    with Store.open(None, cli.state_dir) as store:
        Projects(store).add(gitlab_url="https://gl", gitlab_id=1, path="group/app", hook_secret="s", now=1.0)
    made = cli("tokens", "create", "--name", "ci-bot", "--scope", "read", "--scope", "trigger",
               "--project", "group/app")
    assert made.code == 0, made.stderr
    assert cli("tokens", "list", "--output", "json").json()[0]["projects"] == ["group/app"]


def test_bad_scopes_and_lifetimes_are_one_line_errors(cli: Cli) -> None:
    scope = cli("tokens", "create", "--name", "x", "--scope", "write", "--all-projects")
    assert scope.code != 0 and 'unknown scope "write"' in scope.stderr and "Traceback" not in scope.stderr
    life = cli("tokens", "create", "--name", "x", "--scope", "read", "--all-projects", "--expires", "soon")
    assert life.code == 2 and '--expires soon: give a number of days such as "90d"' in life.stderr


def test_revoking_one_token_leaves_the_others_valid(cli: Cli) -> None:
    first = cli("tokens", "create", "--name", "one", "--scope", "read", "--all-projects").stdout.strip()
    second = cli("tokens", "create", "--name", "two", "--scope", "read", "--all-projects").stdout.strip()
    revoked = cli("tokens", "revoke", "one")
    assert revoked.code == 0 and "revoked token one" in revoked.stdout
    assert '"event": "token_revoked"' in revoked.stderr
    with Store.open(None, cli.state_dir) as store:
        tokens = ApiTokens(store)
        states = [(r.name, r.state(time.time())) for r in (tokens.authenticate(first), tokens.authenticate(second))
                  if r is not None]
    assert states == [("one", "revoked"), ("two", "active")]
    missing = cli("tokens", "revoke", "nope")
    assert missing.code == 1 and 'no API token named "nope"' in missing.stderr
