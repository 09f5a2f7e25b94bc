"""Real toolchain proof for the Python templates: a fixture repository with real pytest tests, committed to
git with the pipeline ``generate`` renders for it, run by the real ``wishstar run`` (python3 -m venv, pytest
installed from PyPI into the venv). The passing suite succeeds; the failing one fails at the test task with
the assertion in ``wishstar logs``. The uv, Poetry, pdm and pipenv fixtures (real lockfiles, pytest in their
dev groups) prove those templates: the build tool is installed from PyPI and must put pytest into the venv."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.pipelines.detect.python_cases import FIXTURES, render
from tests.pipelines.detect.render_cases import commit_with_pipeline, wishstar

pytestmark = [pytest.mark.toolchain, pytest.mark.timeout(600)]



def committed_copy(case: str, tmp_path: Path, *, fallback: bool = True) -> Path:
    """The fixture copied to ``tmp_path/case`` with its generated ``.wishstar.yaml``, all committed.
    ``fallback=False`` drops the template's "install pytest when the project did not" line, so that pytest
    can only come from the build tool's own install."""
    root = tmp_path / case
    shutil.copytree(FIXTURES / case, root)
    generated = render(root)
    assert generated is not None
    pipeline = generated.pipeline
    if not fallback:
        lines = pipeline.splitlines(keepends=True)
        kept = [line for line in lines if "-m pytest --version" not in line]
        assert len(kept) == len(lines) - 1
        pipeline = "".join(kept)
    return commit_with_pipeline(root, with_machine_ca(pipeline))


def with_machine_ca(pipeline: str) -> str:
    """On a machine whose pip trusts its own CA bundle (``PIP_CERT``: a TLS-inspecting proxy), the pipeline
    gives the same bundle to the tools that do not read pip's configuration (uv, Poetry's requests); steps get
    no environment of their own otherwise. Elsewhere the pipeline is used as generated."""
    bundle = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
    if not bundle:
        return pipeline
    env = (f"env:\n  SSL_CERT_FILE: {bundle}\n  REQUESTS_CA_BUNDLE: {bundle}\n  UV_NATIVE_TLS: \"1\"\n"
           "  UV_SYSTEM_CERTS: \"1\"\n\n")
    return pipeline.replace("\ntasks:\n", f"\n{env}tasks:\n", 1)


def run(tmp_path: Path, case: str, *, fallback: bool = True
        ) -> tuple[subprocess.CompletedProcess[str], dict[str, object], str]:
    root = committed_copy(case, tmp_path, fallback=fallback)
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


@pytest.mark.parametrize("tool", ["uv", "poetry", "pdm", "pipenv"])
def test_the_build_tools_template_installs_pytest_from_the_lock_into_the_venv_and_passes(
        tmp_path: Path, tool: str) -> None:
    proc, shape, log = run(tmp_path, f"python-{tool}-pytest", fallback=False)
    assert proc.returncode == 0, log + proc.stderr
    assert shape["status"] == "succeeded"
    assert "tests/test_calc.py .." in log and "2 passed" in log
