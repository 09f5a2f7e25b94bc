"""The whole server, end to end: ``wishstar projects add`` against the stand-in GitLab (GitLab cannot run here;
``tests/gitlab_standin.py`` follows GitLab's documented REST API), then a real ``wishstar serve`` process on
loopback receives GitLab's documented push payload for a real git repository, runs its pipeline with the
local executor, and posts the commit statuses back in order."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import git
import httpx

from tests.cli.conftest import ROOT
from tests.gitlab_standin import TOKEN, StandIn, gitlab  # noqa: F401 - the fixture
from tests.webhook.payloads import push_to

PIPELINE = """
    name: app
    on:
      push: {branches: [main]}
    tasks:
      hello:
        results: [branch]
        script: |
          echo "building $WISHSTAR_GIT_BRANCH at $WISHSTAR_GIT_COMMIT"
          printf '%s' "$WISHSTAR_GIT_BRANCH" > "$(results.branch.path)"
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _repo(path: Path) -> str:
    repo = git.Repo.init(path, initial_branch="main")
    (path / ".wishstar.yaml").write_text(textwrap.dedent(PIPELINE))
    repo.index.add([".wishstar.yaml"])
    actor = git.Actor("Dev", "dev@example.com")
    return repo.index.commit("add pipeline", author=actor, committer=actor).hexsha


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_push_hook_becomes_a_run_and_its_statuses_reach_gitlab_in_order(gitlab: StandIn, tmp_path):  # noqa: F811
    sha = _repo(tmp_path / "repo")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WISHSTAR_")}
    env.update({"WISHSTAR_STATE_DIR": str(tmp_path / "state"), "WISHSTAR_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "GL_TOKEN": TOKEN, "HOOK_SECRET": "s3cret-hook-token"})
    cli = [sys.executable, "-m", "wishstar.cli"]
    added = subprocess.run([*cli, "projects", "add", "group/app", "--url", gitlab.url, "--token-env", "GL_TOKEN",
                            "--hook-secret-env", "HOOK_SECRET", "--clone-url", str(tmp_path / "repo")],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert added.returncode == 0, added.stderr
    assert TOKEN not in added.stdout + added.stderr and "s3cret" not in added.stdout + added.stderr
    with running_server(cli, port, env) as base:
        payload = push_to("main", project_id=42, after=sha)
        headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "s3cret-hook-token",
                   "X-Gitlab-Instance": gitlab.url, "Idempotency-Key": "delivery-1",
                   "User-Agent": "GitLab/17.5.0", "Content-Type": "application/json"}
        answer = httpx.post(f"{base}/hooks/gitlab", content=json.dumps(payload), headers=headers, timeout=10)
        assert answer.status_code == 202, answer.text
        again = httpx.post(f"{base}/hooks/gitlab", content=json.dumps(payload), headers=headers, timeout=10)
        assert again.json().get("duplicate") is True
        states = _wait(lambda: (s := gitlab.states(sha)) and s[-1] in ("success", "failed") and s, 60,
                       "the final status")
        assert states == ["pending", "running", "success"]
        assert httpx.get(f"{base}/api/runs", timeout=10).status_code == 401, "the API needs a token"
        made = subprocess.run([*cli, "tokens", "create", "--name", "e2e", "--scope", "read", "--project",
                               "group/app"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
        assert made.returncode == 0, made.stderr
        auth = {"Authorization": f"Bearer {made.stdout.strip()}"}
        runs = httpx.get(f"{base}/api/runs", headers=auth, timeout=10).json()
        assert len(runs) == 1, "the webhook's run belongs to group/app, which the token may read"
        run = httpx.get(f"{base}/api/runs/{runs[0]['id']}", headers=auth, timeout=10).json()
        assert run["status"] == "succeeded" and run["git"]["commit"] == sha
        assert run["tasks"][0]["results"] == {"branch": "main"}
        final = [s for s in gitlab.statuses if s.get("sha", sha) == sha][-1]
        assert final["target_url"].endswith(f"/runs/{run['id']}") and final["name"] == "wishstar/app"


@contextmanager
def running_server(cli: list[str], port: int, env: dict[str, str]) -> Iterator[str]:
    """``wishstar serve --port PORT`` until the block ends (SIGTERM, then SIGKILL after 20 s); yields its URL."""
    server = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(lambda: _healthy(base), 30, "the server to start")
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
