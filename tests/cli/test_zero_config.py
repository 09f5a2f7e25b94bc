"""``wishstar detect``, ``wishstar init`` and ``wishstar run`` on repositories with no pipeline file, through
the real ``wishstar`` process, real git repositories and a real Go toolchain."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from tests.cli.conftest import Cli
from tests.webhook.test_worker_zero_config import GO_PROJECT


def repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    handle = git.Repo.init(path, initial_branch="main")
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    handle.index.add(list(files))
    author = git.Actor("Test Author", "author@example.com")
    handle.index.commit("initial", author=author, committer=author)
    return path


class TestDetect:
    def test_json_names_the_app_with_evidence_and_versions(self, cli: Cli, tmp_path: Path) -> None:
        result = cli("detect", str(repo(tmp_path / "hello", GO_PROJECT)), "--output", "json")
        assert result.code == 0, result.stderr
        (app,) = result.json()["apps"]
        assert (app["path"], app["language"], app["build"]) == (".", "go", "go")
        assert {"file": "go.mod", "line": 1, "rule": "module example.com/hello"} in app["evidence"]
        assert app["versions"]["go"]["evidence"]["file"] == "go.mod"
        assert set(app) >= {"framework", "port", "confidence", "alternatives", "context"}

    def test_nothing_detected_exits_2_with_what_was_looked_for_found_and_the_line_to_write(
            self, cli: Cli, tmp_path: Path) -> None:
        result = cli("detect", str(repo(tmp_path / "notes", {"README.md": "# notes\n", "docs/a.md": "a\n"})))
        assert result.code == 2
        assert "nothing detected" in result.stderr and "Traceback" not in result.stderr
        assert "found: README.md, docs/" in result.stderr
        assert "pom.xml" in result.stderr and "package.json" in result.stderr and "go.mod" in result.stderr
        assert "say it by hand: " in result.stderr

    def test_a_missing_directory_is_an_error_not_a_miss(self, cli: Cli, tmp_path: Path) -> None:
        result = cli("detect", str(tmp_path / "nope"))
        assert result.code == 1 and "no such directory" in result.stderr

    def test_strict_refuses_an_ambiguous_detection(self, cli: Cli, tmp_path: Path) -> None:
        path = repo(tmp_path / "both", {"package.json": '{"name": "x"}\n', "requirements.txt": "flask\n"})
        assert cli("detect", str(path)).code == 0
        strict = cli("detect", str(path), "--strict")
        assert strict.code == 2 and "--strict refuses" in strict.stderr


class TestInit:
    def test_dry_run_prints_the_files_and_writes_nothing(self, cli: Cli, tmp_path: Path) -> None:
        path = repo(tmp_path / "hello", GO_PROJECT)
        result = cli("init", str(path), "--dry-run")
        assert result.code == 0, result.stderr
        assert "# ---- .wishstar.yaml ----" in result.stdout and "# ---- Dockerfile ----" in result.stdout
        assert not (path / ".wishstar.yaml").exists() and not (path / "Dockerfile").exists()

    def test_writes_a_valid_pipeline_and_never_overwrites_without_force(self, cli: Cli, tmp_path: Path) -> None:
        path = repo(tmp_path / "hello", GO_PROJECT)
        assert cli("init", str(path)).code == 0
        assert cli("validate", str(path)).code == 0
        (path / ".wishstar.yaml").write_text((path / ".wishstar.yaml").read_text() + "# mine\n")
        again = cli("init", str(path))
        assert again.code == 1 and "already exist" in again.stderr
        assert (path / ".wishstar.yaml").read_text().endswith("# mine\n")
        assert cli("init", str(path), "--force").code == 0
        assert not (path / ".wishstar.yaml").read_text().endswith("# mine\n")

    def test_force_keeps_a_hand_written_dockerfile(self, cli: Cli, tmp_path: Path) -> None:
        path = repo(tmp_path / "hello", {**GO_PROJECT, "Dockerfile": "FROM golang:1.26.8-bookworm\n"})
        result = cli("init", str(path), "--force", "--output", "json")
        assert result.code == 0, result.stderr
        assert sorted(result.json()["files"]) == [".wishstar.yaml"]
        assert (path / "Dockerfile").read_text() == "FROM golang:1.26.8-bookworm\n"


@pytest.mark.toolchain
class TestRunWithoutAPipelineFile:
    def test_detects_says_so_and_runs_the_projects_tests(self, cli: Cli, tmp_path: Path) -> None:
        path = repo(tmp_path / "hello", GO_PROJECT)
        result = cli("run", str(path), timeout=300)
        assert result.code == 0, result.stderr
        assert "no .wishstar.yaml in" in result.stderr and "wishstar init" in result.stderr
        logs = cli("logs", "latest")
        assert "ok  \texample.com/hello" in logs.stdout

    def test_a_failing_test_fails_the_test_task_with_its_output(self, cli: Cli, tmp_path: Path) -> None:
        broken = {**GO_PROJECT, "hello.go": "package hello\n\nfunc Hello() string { return \"bye\" }\n"}
        result = cli("run", str(repo(tmp_path / "hello", broken)), timeout=300)
        assert result.code == 1
        logs = cli("logs", "latest")
        assert "wrong greeting" in logs.stdout and "FAIL" in logs.stdout
