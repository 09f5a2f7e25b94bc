"""`wishstar run --executor kubernetes` with a kubeconfig or context it cannot use: refused with the file, the
context and a hint, before a run is recorded (no cluster is needed to show that)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Cli

PIPELINE = "name: kc\ntasks:\n  a:\n    script: echo hi\n"
KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: ci, context: {cluster: c, user: u, namespace: ci}}]
current-context: ci
"""


@pytest.mark.parametrize(("kubeconfig", "context", "says"), [
    ("missing", None, "No configuration found"),
    ("garbage", None, "cannot use the kubeconfig"),
    ("valid", "nosuch", 'context "nosuch"'),
], ids=["missing-file", "not-a-kubeconfig", "unknown-context"])
def test_an_unusable_kubeconfig_is_refused_before_a_run_is_recorded(
        cli: Cli, make_repo: Callable[..., Path], tmp_path: Path, kubeconfig: str, context: str | None,
        says: str) -> None:
    repo = make_repo(PIPELINE)
    files = {"missing": tmp_path / "nope.yaml", "garbage": tmp_path / "garbage.yaml", "valid": tmp_path / "kc.yaml"}
    files["garbage"].write_text("just: [text\n")
    files["valid"].write_text(KUBECONFIG)
    args = ["run", str(repo), "--executor", "kubernetes", "--kubeconfig", str(files[kubeconfig]), "--no-progress"]
    if context:
        args += ["--context", context]
    result = cli(*args)
    assert result.code != 0
    assert says in result.stderr and "hint:" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "not-a-real-token" not in result.stderr
    assert cli("runs", "list", "--output", "json").json() == []
