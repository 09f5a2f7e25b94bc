"""Real toolchain proof for the Python templates: a fixture repository with real pytest tests, committed to
git with the pipeline ``generate`` renders for it, run by the real ``wishstar run`` (python3 -m venv, pytest
installed from PyPI into the venv). The passing suite succeeds; the failing one fails at the test task with
the assertion in ``wishstar logs``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import git
import pytest

from tests.pipelines.detect.python_cases import FIXTURES, render

pytestmark = [pytest.mark.toolchain, pytest.mark.timeout(600)]

WISHSTAR = Path(sys.executable).parent / "wishstar"


def committed_copy(case: str, tmp_path: Path) -> Path:
    """The fixture copied to ``tmp_path/case`` with its generated ``.wishstar.yaml``, all committed."""
    root = tmp_path / case
    shutil.copytree(FIXTURES / case, root)
    generated = render(root)
    assert generated is not None
    (root / ".wishstar.yaml").write_text(generated.pipeline)
    repo = git.Repo.init(root, initial_branch="main")
    repo.git.add(A=True)
    author = git.Actor("Test Author", "author@example.com")
    repo.index.commit("initial commit", author=author, committer=author)
    return root


def wishstar(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WISHSTAR_")}
    env.update(WISHSTAR_STATE_DIR=str(tmp_path / "state"), COLUMNS="200")
    return subprocess.run([str(WISHSTAR), *args], capture_output=True, text=True, timeout=540, env=env,
                          cwd=tmp_path)


def run(tmp_path: Path, case: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object], str]:
    root = committed_copy(case, tmp_path)
    proc = wishstar(tmp_path, "run", str(root), "--no-progress", "--output", "json")
    shape = json.loads(proc.stdout)
    logs = wishstar(tmp_path, "logs", str(shape["id"]), "test")
    assert logs.returncode == 0, logs.stderr
    return proc, shape, logs.stdout


def test_the_generated_pipeline_runs_the_passing_pytest_suite_and_succeeds(tmp_path: Path) -> None:
    proc, shape, log = run(tmp_path, "python-pytest-passing")
    assert proc.returncode == 0, log + proc.stderr
    assert shape["status"] == "succeeded"
    assert "2 passed" in log and "tests/test_calc.py .." in log


def test_the_generated_pipeline_fails_at_the_test_task_with_the_assertion_in_the_log(tmp_path: Path) -> None:
    proc, shape, log = run(tmp_path, "python-pytest-failing")
    assert proc.returncode == 1
    assert shape["status"] == "failed"
    assert shape["reason"] == 'task "test" failed: step run exited with 1'
    assert "AssertionError: two plus two is not five" in log
    assert "1 failed, 1 passed" in log
