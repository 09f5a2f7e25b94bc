"""Bad inputs a new user gives the CLI: each is a clear message naming the file, option or value, with an exit
code and no stack trace; problems of one command are listed all at once, like a pipeline file's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, Result

# two tasks that cannot become a Pod (a step with only an image), for the manifest errors
IMAGE_ONLY = """
name: pods
tasks:
  a:
    steps: [{name: s, image: alpine}]
  b:
    steps: [{name: s, image: alpine}]
  ok:
    script: echo hi
"""
PIPELINE = "name: simple\ntasks:\n  a:\n    script: echo hi\n"


def no_traceback(result: Result) -> None:
    assert "Traceback" not in result.stderr and "Error:" not in result.stderr.replace("error:", ""), result.stderr


# --- Kubernetes names and manifests --------------------------------------------------------------------------


def test_plan_lists_a_bad_namespace_and_every_task_that_cannot_become_a_pod_at_once(cli: Cli,
                                                                                     tmp_path: Path) -> None:
    (tmp_path / ".wishstar.yaml").write_text(IMAGE_ONLY)
    result = cli("plan", str(tmp_path), "--output", "yaml", "--namespace", "Bad_NS")
    assert result.code == 1 and result.stdout == ""
    no_traceback(result)
    lines = result.stderr.splitlines()
    assert any("--namespace" in line and '"Bad_NS"' in line and 'did you mean "bad-ns"?' in line for line in lines)
    assert any("tasks.a:" in line and "give it a script or a command" in line for line in lines), result.stderr
    assert any("tasks.b:" in line and "give it a script or a command" in line for line in lines), result.stderr
    assert lines[-1] == "3 problem(s) found"


def test_plan_reports_a_bad_namespace_together_with_the_files_problems(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / ".wishstar.yaml").write_text("name: x\ntasks:\n  a:\n    scrip: echo\n")
    result = cli("plan", str(tmp_path), "--output", "json", "--manifests", "--namespace", "Bad_NS")
    assert result.code == 1
    no_traceback(result)
    assert "--namespace" in result.stderr and "tasks.a" in result.stderr


def test_plan_without_manifests_does_not_need_a_valid_namespace(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / ".wishstar.yaml").write_text(PIPELINE)
    assert cli("plan", str(tmp_path), "--namespace", "Bad_NS").code == 0


def test_a_kubernetes_run_in_a_bad_namespace_is_refused_before_a_run_is_recorded(
        cli: Cli, make_repo: Callable[..., Path]) -> None:
    repo = make_repo(PIPELINE)
    result = cli("run", str(repo), "--executor", "kubernetes", "--namespace", "Bad_NS", "--no-progress")
    assert result.code == 1
    no_traceback(result)
    assert '--namespace: "Bad_NS" is not a valid Kubernetes namespace name' in result.stderr
    assert cli("runs", "list", "--output", "json").json() == []


def test_a_bad_wishstar_namespace_is_an_invalid_setting(cli: Cli) -> None:
    result = cli("runs", "list", env={"WISHSTAR_NAMESPACE": "Bad_NS"})
    assert result.code == 1
    no_traceback(result)
    assert "WISHSTAR_NAMESPACE='Bad_NS'" in result.stderr and "not a valid Kubernetes namespace" in result.stderr


# --- secrets files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "says"), [
    ("missing", "no such secrets file"),
    ("directory", "is a directory, not a secrets file"),
    ("too-large", "over the 1048576-byte limit for a secrets file"),
])
def test_a_secrets_file_that_cannot_be_read_is_named_with_the_option(
        cli: Cli, make_repo: Callable[..., Path], tmp_path: Path, kind: str, says: str) -> None:
    repo = make_repo(PIPELINE)
    path = {"missing": tmp_path / "nope.yaml", "directory": tmp_path, "too-large": tmp_path / "big.yaml"}[kind]
    if kind == "too-large":
        path.write_text("a: " + "x" * 1024 * 1024 + "\n")
    result = cli("run", str(repo), "--secrets-file", str(path), "--no-progress")
    assert result.code == 2
    no_traceback(result)
    assert f"--secrets-file {path}: {says}" in result.stderr and "pipeline file" not in result.stderr
    assert cli("runs", "list", "--output", "json").json() == []
