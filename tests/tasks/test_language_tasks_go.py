"""The go library task runs for real through ``wishstar run`` (Go is installed here; the fixtures use the
standard library only): ``go test ./...`` passes a passing module and fails a failing one with the test's
message in ``wishstar logs``; ``command: build`` writes binaries (one named file, or one per main package
into a directory) that the next task runs; flags, CGO_ENABLED, GOARCH and the cache workspace take effect."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.tasks.language_tasks import pipeline, project, run

pytestmark = [pytest.mark.toolchain, pytest.mark.timeout(600),
              pytest.mark.skipif(shutil.which("go") is None, reason="needs go on PATH (.ci/run fails when it "
                                 "is missing)")]


def test_go_test_runs_every_package_of_a_passing_module(tmp_path: Path) -> None:
    repo = project(tmp_path, "greeter", pipeline("greeter", "go"), fixture="go-stdlib-passing")
    ran = run(tmp_path, repo)
    assert ran.code == 0, ran.output + ran.log
    assert "go: go test ./..." in ran.log
    assert "ok  \texample.com/greeter/greet" in ran.log
    assert ran.results == {"output": ""}


def test_a_failing_go_test_fails_the_task_with_its_message_in_the_log(tmp_path: Path) -> None:
    repo = project(tmp_path, "failing", pipeline("failing", "go"), fixture="go-failing")
    ran = run(tmp_path, repo)
    assert ran.code == 1, ran.output
    assert ran.record["reason"] == 'task "test" failed: step go exited with 1'
    assert "add(2, 2) = 0, want 4" in ran.log
    assert "--- FAIL: TestAddAddsTwoNumbers" in ran.log


def test_flags_come_before_the_packages(tmp_path: Path) -> None:
    text = pipeline("flags", "go", {"flags": ["-v", "-run", "TestAddAddsTwoNumbers"], "packages": ["."]})
    repo = project(tmp_path, "flags", text, fixture="go-failing")
    ran = run(tmp_path, repo)
    assert ran.code == 1, ran.output
    assert "go: go test -v -run TestAddAddsTwoNumbers ." in ran.log
    assert "=== RUN   TestAddAddsTwoNumbers" in ran.log


def _build_then(name: str, with_: dict[str, str | list[str]], script: str) -> str:
    build = pipeline(name, "go", {"command": "build", **with_})
    return build + f"  check:\n    needs: [test]\n    script: |\n{_indent(script, 6)}"


def _indent(text: str, by: int) -> str:
    return "".join(" " * by + line + "\n" for line in text.splitlines())


def test_build_writes_the_named_binary_static_by_default_and_the_next_task_runs_it(tmp_path: Path) -> None:
    script = 'go version -m bin/greeter | grep -E "CGO_ENABLED|GOARCH"\n./bin/greeter "from a pipeline"'
    text = _build_then("built", {"packages": ["."], "output": "bin/greeter"}, script)
    repo = project(tmp_path, "built", text, fixture="go-stdlib-passing")
    ran = run(tmp_path, repo)
    assert ran.code == 0, ran.output + ran.log
    assert "go: go build -o bin/greeter ." in ran.log
    assert ran.results == {"output": "bin/greeter"}
    assert "Hello, from a pipeline" in ran.everything
    assert "build\tCGO_ENABLED=0" in ran.everything


def test_cgo_and_goarch_params_reach_the_build(tmp_path: Path) -> None:
    script = "go version -m bin/greeter"
    text = _build_then("cross", {"packages": ["."], "output": "bin/greeter", "cgoEnabled": "1",
                                 "goarch": "arm64", "goos": "linux"}, script)
    repo = project(tmp_path, "cross", text, fixture="go-stdlib-passing")
    ran = run(tmp_path, repo)
    assert ran.code == 0, ran.output + ran.log
    assert "build\tCGO_ENABLED=1" in ran.everything
    assert "build\tGOARCH=arm64" in ran.everything


def test_a_build_into_a_directory_writes_one_binary_per_main_package(tmp_path: Path) -> None:
    text = _build_then("cmds", {}, "ls bin")
    repo = project(tmp_path, "cmds", text, fixture="go-cmd-layout")
    ran = run(tmp_path, repo)
    assert ran.code == 0, ran.output + ran.log
    assert "go: go build -o bin/ ./..." in ran.log
    assert ran.results == {"output": "bin/"}
    assert "migrate\nserver\n" in ran.everything
