"""The go library task's params take effect, for real through ``wishstar run`` (Go is installed here; the
fixtures use the standard library only): flags come before the packages, and ``command: build`` writes
binaries (one named file, or one per main package into a directory) that the next task finds, with
CGO_ENABLED, GOOS and GOARCH applied. Passing and failing modules: test_language_tasks.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.tasks.language_tasks import pipeline, project, run
from wishstar.engine.spec.model import ParamValue

pytestmark = [pytest.mark.toolchain, pytest.mark.timeout(600),
              pytest.mark.skipif(shutil.which("go") is None, reason="needs go on PATH (.ci/run fails when it "
                                 "is missing)")]


def test_flags_come_before_the_packages(tmp_path: Path) -> None:
    text = pipeline("flags", "go@1", {"flags": ["-v", "-run", "TestAddAddsTwoNumbers"], "packages": ["."]})
    repo = project(tmp_path, "flags", text, fixture="go-failing")
    ran = run(tmp_path, repo)
    assert ran.code == 1, ran.output
    assert "go: go test -v -run TestAddAddsTwoNumbers ." in ran.log
    assert "=== RUN   TestAddAddsTwoNumbers" in ran.log


BUILDS = [
    ("a named static binary the next task runs", {"packages": ["."], "output": "bin/greeter"},
     'go version -m bin/greeter\n./bin/greeter "from a pipeline"', "go: go build -o bin/greeter .",
     ("build\tCGO_ENABLED=0", "Hello, from a pipeline")),
    ("CGO_ENABLED, GOOS and GOARCH reach the build",
     {"packages": ["."], "output": "bin/greeter", "cgoEnabled": "1", "goos": "linux", "goarch": "arm64"},
     "go version -m bin/greeter", "go: go build -o bin/greeter .", ("build\tCGO_ENABLED=1", "build\tGOARCH=arm64")),
    ("one binary per main package into a directory", {}, "ls bin", "go: go build -o bin/ ./...",
     ("migrate\nserver\n",)),
]


@pytest.mark.parametrize(("with_", "check", "command", "said"), [b[1:] for b in BUILDS], ids=[b[0] for b in BUILDS])
def test_command_build_writes_the_output_that_the_next_task_finds(
        tmp_path: Path, with_: dict[str, ParamValue], check: str, command: str, said: tuple[str, ...]) -> None:
    text = pipeline("built", "go@1", {"command": "build", **with_}, check=check)
    fixture = "go-cmd-layout" if not with_ else "go-stdlib-passing"
    ran = run(tmp_path, project(tmp_path, "built", text, fixture=fixture))
    assert ran.code == 0, ran.output + ran.everything
    assert command in ran.log
    assert ran.results == {"output": with_.get("output", "bin/")}
    for line in said:
        assert line in ran.everything, ran.everything
