"""The small built-in tasks (pytest, echo) run for real with sh, their run-time references filled in."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from wishstar.engine.compiler.library import expand_library_task
from wishstar.engine.spec.model import ParamValue
from wishstar.engine.spec.subst import Ref, substitute
from wishstar.tasks import Library


def _run(name: str, with_: Mapping[str, ParamValue], cwd: Path, answers: Mapping[tuple[str, ...], str],
         ) -> subprocess.CompletedProcess[str]:
    def runtime(ref: Ref) -> str | None:
        return answers.get(ref.parts)

    (step,) = expand_library_task(Library().get(name), with_).steps
    script = cwd / f"{name}.sh"
    script.write_text(substitute(step.script or "", runtime))
    env = dict(os.environ)
    env.update({e.name: substitute(e.value or "", runtime) for e in step.env})
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(["sh", str(script), *step.args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_pytest_task_runs_pytest_in_the_current_directory_when_source_is_unbound(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text("def test_truth():\n    assert True\n")
    done = _run("pytest", {"args": ["-q", "-p", "no:cacheprovider"]}, tmp_path,
                {("workspaces", "source", "bound"): "false", ("workspaces", "source", "path"): ""})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_pytest_task_runs_in_the_bound_source_workspace(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "test_failing.py").write_text("def test_lie():\n    assert False\n")
    done = _run("pytest", {"args": ["-q", "-p", "no:cacheprovider"]}, tmp_path,
                {("workspaces", "source", "bound"): "true", ("workspaces", "source", "path"): str(source)})
    assert done.returncode == 1
    assert "1 failed" in done.stdout


def test_echo_task_prints_the_message_verbatim_and_writes_the_result(tmp_path: Path) -> None:
    message = "it's $(not) `run` $HOME"
    result = tmp_path / "message"
    done = _run("echo", {"message": message}, tmp_path, {("results", "message", "path"): str(result)})
    assert done.returncode == 0, done.stderr
    assert done.stdout == message + "\n"
    assert result.read_text() == message
