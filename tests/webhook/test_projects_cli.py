"""``wishstar projects add|list|remove`` against the stand-in GitLab (``tests/gitlab_standin.py``), a real HTTP
server that follows GitLab's documented project and project-hook API.

The command runs as a subprocess (``python -m wishstar.cli projects ...``) once ``projects`` is registered in
``cli.main``; until then through typer's CliRunner on ``projects_app``. Either way the token reaches it only
through the environment, and no output may contain the token or the hook secret.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import gitlab_standin
from tests.gitlab_standin import StandIn
from wishstar.engine.store import Store
from wishstar.engine.store.server import Projects

ROOT = Path(__file__).resolve().parents[2]
HOOK_URL = "https://ci.example.com/hooks/gitlab"
gitlab = gitlab_standin.gitlab


@dataclass
class Result:
    code: int
    output: str
    error: BaseException | None = None

    def json(self) -> Any:
        return json.loads(self.output)


def _registered() -> bool:
    from wishstar.cli.main import app

    return any(group.name == "projects" for group in app.registered_groups)


def wishstar(state: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """``wishstar projects ARGS --state-dir STATE`` with ``env`` added to a clean environment."""
    argv = [*args, "--state-dir", str(state)]
    extra = {"WISHSTAR_GITLAB_TOKEN": "", "WISHSTAR_GITLAB_URL": "", **(env or {})}
    if _registered():
        proc = subprocess.run([sys.executable, "-m", "wishstar.cli", "projects", *argv], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, env={**os.environ, **extra})
        return Result(proc.returncode, proc.stdout + proc.stderr)
    from typer.testing import CliRunner

    from wishstar.cli.projects_cmd import projects_app

    result = CliRunner().invoke(projects_app, argv, env=extra)
    error = result.exception if not isinstance(result.exception, SystemExit) else None
    return Result(1 if error else result.exit_code, result.output + (str(error) if error else ""), error)


def _stored(state: Path) -> list[Any]:
    with Store.open(None, state) as store:
        return Projects(store).list()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def test_add_creates_the_hook_with_the_right_events_and_ssl_verification(state: Path, gitlab: StandIn) -> None:
    result = wishstar(state, "add", "group/app", "--url", gitlab.url, "--hook-url", HOOK_URL,
                      "--token-env", "MY_TOKEN", env={"MY_TOKEN": gitlab.token})
    assert result.code == 0, result.output
    [hook] = gitlab.hooks[42]
    assert hook["url"] == HOOK_URL
    assert {k: hook[k] for k in ("push_events", "tag_push_events", "merge_requests_events", "note_events",
                                 "issues_events", "enable_ssl_verification")} == {
        "push_events": True, "tag_push_events": True, "merge_requests_events": True, "note_events": True,
        "issues_events": False, "enable_ssl_verification": True}
    [project] = _stored(state)
    assert (project.gitlab_id, project.path, project.hook_id) == (42, "group/app", hook["id"])
    assert project.hook_secret == hook["token"] and len(project.hook_secret) >= 32
    assert project.api_token == gitlab.token


def test_add_never_prints_the_token_or_the_hook_secret(state: Path, gitlab: StandIn) -> None:
    result = wishstar(state, "add", "42", "--url", gitlab.url, "--hook-url", HOOK_URL, "--mr-notes",
                      env={"WISHSTAR_GITLAB_TOKEN": gitlab.token})
    listed = wishstar(state, "list", "--output", "json")
    text = wishstar(state, "list")
    secret = gitlab.hooks[42][0]["token"]
    for output in (result.output, listed.output, text.output):
        assert gitlab.token not in output and secret not in output
    [view] = listed.json()
    assert view["has_token"] is False and view["mr_notes"] is True and view["path"] == "group/app"
    assert "hook_secret" not in view and "api_token" not in view


def test_the_token_is_not_taken_from_the_command_line(state: Path, gitlab: StandIn) -> None:
    result = wishstar(state, "add", "group/app", "--url", gitlab.url, "--token-env", "UNSET_VAR")
    assert result.code != 0 and "UNSET_VAR is not set" in result.output
    assert gitlab.hooks == {} and _stored(state) == []


def test_no_create_hook_adopts_the_existing_hook_and_its_secret(state: Path, gitlab: StandIn) -> None:
    gitlab.hooks[42] = [{"id": 7, "project_id": 42, "url": HOOK_URL, "token": "jenkins-era-secret"}]
    result = wishstar(state, "add", "group/app", "--url", gitlab.url, "--hook-url", HOOK_URL,
                      "--no-create-hook", "--hook-secret-env", "OLD_SECRET", "--clone-url", "https://mirror/app.git",
                      env={"OLD_SECRET": "jenkins-era-secret", "WISHSTAR_GITLAB_TOKEN": gitlab.token})
    assert result.code == 0, result.output
    assert gitlab.calls_to("POST", "/hooks") == [] and len(gitlab.hooks[42]) == 1
    [project] = _stored(state)
    assert (project.hook_id, project.hook_secret, project.clone_url) == (7, "jenkins-era-secret",
                                                                         "https://mirror/app.git")
    assert "jenkins-era-secret" not in result.output


def test_no_create_hook_without_a_token_registers_a_numeric_project_offline(state: Path, gitlab: StandIn) -> None:
    result = wishstar(state, "add", "42", "--url", gitlab.url, "--no-create-hook", "--hook-secret-env", "S",
                      env={"S": "existing"})
    assert result.code == 0, result.output
    assert gitlab.calls == []
    [project] = _stored(state)
    assert (project.gitlab_id, project.hook_id, project.api_token) == (42, None, None)


def test_no_create_hook_needs_the_existing_hooks_secret(state: Path, gitlab: StandIn) -> None:
    result = wishstar(state, "add", "group/app", "--url", gitlab.url, "--no-create-hook",
                      env={"WISHSTAR_GITLAB_TOKEN": gitlab.token})
    assert result.code != 0 and "--hook-secret-env" in result.output
    assert _stored(state) == []


def test_add_with_a_rejected_token_fails_clearly_and_stores_nothing(state: Path, gitlab: StandIn) -> None:
    result = wishstar(state, "add", "group/app", "--url", gitlab.url, env={"WISHSTAR_GITLAB_TOKEN": "wrong-token"})
    assert result.code != 0 and "401" in result.output and "wrong-token" not in result.output
    assert _stored(state) == [] and gitlab.hooks == {}


def test_add_removes_the_project_again_when_gitlab_refuses_the_hook(state: Path, gitlab: StandIn) -> None:
    gitlab.fail_route("POST", "/hooks")
    result = wishstar(state, "add", "group/app", "--url", gitlab.url, "--hook-url", HOOK_URL,
                      env={"WISHSTAR_GITLAB_TOKEN": gitlab.token})
    assert result.code != 0 and "500" in result.output, result.output
    assert _stored(state) == [] and gitlab.hooks == {}


def test_adding_a_project_twice_is_refused_without_a_second_hook(state: Path, gitlab: StandIn) -> None:
    env = {"WISHSTAR_GITLAB_TOKEN": gitlab.token}
    assert wishstar(state, "add", "group/app", "--url", gitlab.url, "--hook-url", HOOK_URL, env=env).code == 0
    again = wishstar(state, "add", "group/app", "--url", gitlab.url, "--hook-url", HOOK_URL, env=env)
    assert again.code != 0 and "already registered" in again.output
    assert len(gitlab.hooks[42]) == 1


def test_remove_with_delete_hook_deletes_it_on_gitlab(state: Path, gitlab: StandIn) -> None:
    env = {"WISHSTAR_GITLAB_TOKEN": gitlab.token}
    assert wishstar(state, "add", "group/app", "--url", gitlab.url, "--hook-url", HOOK_URL, env=env).code == 0
    result = wishstar(state, "remove", "group/app", "--delete-hook", env=env)
    assert result.code == 0, result.output
    assert gitlab.hooks[42] == [] and _stored(state) == []


def test_the_default_hook_url_is_the_public_url_plus_hooks_gitlab(state: Path, gitlab: StandIn) -> None:
    env = {"WISHSTAR_GITLAB_TOKEN": gitlab.token, "WISHSTAR_PUBLIC_URL": "https://wishstar.example.com"}
    assert _registered(), "`projects` is registered in cli/main.py, so the CLI runs as a subprocess"
    assert wishstar(state, "add", "group/app", "--url", gitlab.url, env=env).code == 0
    assert gitlab.hooks[42][0]["url"] == "https://wishstar.example.com/hooks/gitlab"
