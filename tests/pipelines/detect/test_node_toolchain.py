"""The pipeline generated for a Node project runs the project's real tests with the real toolchain through
`wishstar run`: npm ci then npm test, and pnpm (fetched by npx) install --frozen-lockfile then pnpm test (node
and npm are installed here; express, fastify and pnpm come from the npm registry).
A project whose test fails fails at the test task, with the test's own output in the log."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.pipelines.detect.render_cases import commit_with_pipeline
from tests.pipelines.detect.render_cases import wishstar as run_cli
from tests.pipelines.detect.test_node_golden import FIXTURES, detection_of
from wishstar.pipelines.generate import generate

pytestmark = pytest.mark.skipif(shutil.which("npm") is None, reason="needs node and npm on PATH")


def checkout(case: str, tmp_path: Path) -> Path:
    """The fixture as a committed git repository with its generated .wishstar.yaml."""
    repo = tmp_path / case
    shutil.copytree(FIXTURES / case, repo)
    files = generate(detection_of(repo), name=case, has_file=lambda rel: (repo / rel).is_file()).files
    return commit_with_pipeline(repo, files[".wishstar.yaml"])


def wishstar(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(tmp_path, *args, env={"npm_config_cache": str(tmp_path / "npm-cache")}, timeout=240)


@pytest.mark.parametrize(("case", "said"), [("node-express", "shop-api health check passed"),
                                            ("pnpm-stray-lockfile", "inventory items test passed")])
def test_the_generated_pipeline_installs_from_the_lockfile_and_the_passing_test_runs(
        tmp_path: Path, case: str, said: str) -> None:
    repo = checkout(case, tmp_path)
    run = wishstar(tmp_path, "run", str(repo))
    assert run.returncode == 0, run.stdout + run.stderr
    logs = wishstar(tmp_path, "logs", f"{case}#1", "test")
    assert said in logs.stdout, logs.stdout + logs.stderr
    assert "# pass 1" in logs.stdout and "# fail 0" in logs.stdout


def test_workspace_members_install_once_at_the_root_and_each_runs_its_own_tests(tmp_path: Path) -> None:
    repo = checkout("yarn-workspaces", tmp_path)
    run = wishstar(tmp_path, "run", str(repo))
    assert run.returncode == 0, run.stdout + run.stderr
    for task, said in (("test-greeter", "greeter test passed"), ("test-cli", "cli test passed")):
        logs = wishstar(tmp_path, "logs", "yarn-workspaces#1", task)
        assert said in logs.stdout, logs.stdout + logs.stderr
    everything = wishstar(tmp_path, "logs", "yarn-workspaces#1").stdout
    assert everything.count("yarn install v1.22.22") == 1, everything


def test_a_failing_node_test_fails_the_run_at_the_test_task_with_its_output_in_the_log(tmp_path: Path) -> None:
    repo = checkout("node-failing-test", tmp_path)
    run = wishstar(tmp_path, "run", str(repo))
    assert run.returncode == 1, run.stdout + run.stderr
    assert 'task "test" failed' in run.stdout, run.stdout + run.stderr
    logs = wishstar(tmp_path, "logs", "node-failing-test#1", "test")
    assert "calculator fixture: add(2, 2) should be 5" in logs.stdout, logs.stdout + logs.stderr
    assert "# fail 1" in logs.stdout
