"""``wishstar plan`` shows which task file, version and catalog each ``uses:`` resolved to."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Cli


def test_plan_names_the_version_and_file_each_uses_resolved_to(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / ".wishstar.yaml").write_text(
        "name: p\ntasks:\n  hello:\n    uses: echo\n    with: {message: hi}\n"
        "  again:\n    uses: echo@1\n    with: {message: hi}\n")
    result = cli("plan", str(tmp_path))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    section = lines[lines.index("library tasks") + 1:][:2]
    assert section[0].startswith("  echo → echo@1  built-in: ")
    assert section[0].endswith("/tasks/library/echo/1/echo.yaml")
    assert section[1].startswith("  echo@1 → echo@1  built-in: ")
    data = cli("plan", str(tmp_path), "--output", "json").json()
    assert [(r["uses"], r["task"], r["catalog"]) for r in data["library"]] == [
        ("echo", "echo@1", "built-in"), ("echo@1", "echo@1", "built-in")]
