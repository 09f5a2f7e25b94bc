"""A push to a project whose pipeline deploys (a task with Helm's results, from the project's own
``.wishstar/tasks/``): the real ``wishstar serve`` runs it, the deployment is recorded under the GitLab project,
and ``wishstar deployments --server`` answers with it (SQLite)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import git
import httpx

from tests.cli.conftest import ROOT
from tests.gitlab_standin import TOKEN, StandIn, gitlab  # noqa: F401 - the fixture
from tests.webhook.payloads import push_to
from tests.webhook.test_server_end_to_end import _free_port, _wait, running_server

DIGEST = "sha256:" + "d" * 64
PIPELINE = """
    name: shop
    on:
      push: {branches: [main]}
    tasks:
      deploy:
        uses: fake-helm
"""
HELM_TASK = f"""
    apiVersion: tekton.dev/v1
    kind: Task
    metadata: {{name: fake-helm}}
    spec:
      results: [{{name: RELEASE_NAME}}, {{name: RELEASE_NAMESPACE}}, {{name: RELEASE_REVISION}},
                {{name: IMAGE_DIGEST}}]
      steps:
        - name: upgrade
          image: docker.io/library/busybox:1.36
          script: |
            #!/bin/sh
            printf shop > "$(results.RELEASE_NAME.path)"
            printf prod > "$(results.RELEASE_NAMESPACE.path)"
            printf 1 > "$(results.RELEASE_REVISION.path)"
            printf '{DIGEST}' > "$(results.IMAGE_DIGEST.path)"
"""


def _repo(path: Path) -> str:
    repo = git.Repo.init(path, initial_branch="main")
    (path / ".wishstar.yaml").write_text(textwrap.dedent(PIPELINE))
    (path / ".wishstar" / "tasks").mkdir(parents=True)
    (path / ".wishstar" / "tasks" / "fake-helm.yaml").write_text(textwrap.dedent(HELM_TASK))
    repo.index.add([".wishstar.yaml", ".wishstar/tasks/fake-helm.yaml"])
    actor = git.Actor("Dev", "dev@example.com")
    return repo.index.commit("deploy", author=actor, committer=actor).hexsha


def test_a_pushed_deploy_is_recorded_under_its_gitlab_project(gitlab: StandIn, tmp_path: Path) -> None:  # noqa: F811
    sha = _repo(tmp_path / "repo")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WISHSTAR_")}
    env.update({"WISHSTAR_STATE_DIR": str(tmp_path / "state"), "WISHSTAR_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "GL_TOKEN": TOKEN, "HOOK_SECRET": "s3cret-hook-token", "COLUMNS": "200"})
    cli = [sys.executable, "-m", "wishstar.cli"]

    def wishstar(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)

    added = wishstar("projects", "add", "group/app", "--url", gitlab.url, "--token-env", "GL_TOKEN",
                     "--hook-secret-env", "HOOK_SECRET", "--clone-url", str(tmp_path / "repo"))
    assert added.returncode == 0, added.stderr
    with running_server(cli, port, env) as base:
        headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "s3cret-hook-token",
                   "X-Gitlab-Instance": gitlab.url, "Content-Type": "application/json"}
        answer = httpx.post(f"{base}/hooks/gitlab", content=json.dumps(push_to("main", project_id=42, after=sha)),
                            headers=headers, timeout=10)
        assert answer.status_code == 202, answer.text
        assert _wait(lambda: (s := gitlab.states(sha)) and s[-1] in ("success", "failed") and s, 60,
                     "the final status")[-1] == "success"
        made = wishstar("tokens", "create", "--name", "reader", "--scope", "read", "--project", "group/app")
        assert made.returncode == 0, made.stderr
        env.update({"WISHSTAR_TOKEN": made.stdout.strip(), "WISHSTAR_SERVER": base})
        listed = wishstar("deployments", "group/app", "--output", "json")
        assert listed.returncode == 0, listed.stderr
        [deployed] = json.loads(listed.stdout)
        assert (deployed["project"], deployed["namespace"], deployed["release"], deployed["revision"]) == (
            "group/app", "prod", "shop", 1)
        assert (deployed["image_digest"], deployed["commit"], deployed["ref"]) == (DIGEST, sha, "main")
        where = wishstar("deployments", "--digest", DIGEST)
        assert where.returncode == 0 and "group/app" in where.stdout and "shop#1" in where.stdout, where.stderr
