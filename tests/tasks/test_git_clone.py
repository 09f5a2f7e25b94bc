"""The built-in git-clone task, run for real with sh against a real repository, as the local runner would."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import git
import pytest

from wishstar.engine.compiler.library import expand_library_task
from wishstar.engine.compiler.types import StepPlan
from wishstar.engine.spec.model import ParamValue
from wishstar.engine.spec.subst import Ref, substitute
from wishstar.tasks import Library

_NO_TOOLS = shutil.which("git") is None or shutil.which("sh") is None
pytestmark = pytest.mark.skipif(_NO_TOOLS, reason="needs git and sh")


@pytest.fixture()
def repo(tmp_path: Path) -> git.Repo:
    """A repository with two commits on main, the first also tagged v1."""
    repo = git.Repo.init(tmp_path / "upstream", initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test").set_value("user", "email", "test@example.org")
    for text in ("first", "second"):
        (Path(repo.working_dir) / "README").write_text(text)
        repo.index.add(["README"])
        repo.index.commit(text)
        if text == "first":
            repo.create_tag("v1")
    return repo


def _run(tmp_path: Path, with_: Mapping[str, ParamValue], extra_env: Mapping[str, str] = {},
         ) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    """Expand the task, fill the run-time references as the runner does, and run the step with sh."""
    workspace, results = tmp_path / "workspace", tmp_path / "results"
    workspace.mkdir(exist_ok=True)
    results.mkdir(exist_ok=True)

    def runtime(ref: Ref) -> str | None:
        if ref.parts[0] == "workspaces" and ref.parts[1:] == ("output", "path"):
            return str(workspace)
        if ref.parts[0] == "results" and ref.parts[2:] == ("path",):
            return str(results / ref.parts[1])
        return None

    (step,) = expand_library_task(Library().get("git-clone"), with_).steps
    script = tmp_path / "clone.sh"
    script.write_text(substitute(step.script or "", runtime))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WISHSTAR_", "GIT_"))}
    env.update({e.name: substitute(e.value or "", runtime) for e in step.env})
    env.update(extra_env)
    done = subprocess.run(["sh", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    return done, workspace, results


def _head(path: Path) -> str:
    return git.Repo(path).head.commit.hexsha


def test_clone_checks_out_the_requested_commit_and_writes_results(tmp_path: Path, repo: git.Repo) -> None:
    first = repo.commit("v1").hexsha
    done, workspace, results = _run(tmp_path, {"url": repo.working_dir, "revision": first})
    assert done.returncode == 0, done.stderr
    assert _head(workspace) == first
    assert (workspace / "README").read_text() == "first"
    assert (results / "commit").read_text() == first
    assert (results / "url").read_text() == repo.working_dir


@pytest.mark.parametrize(("revision", "expected"), [("main", "second"), ("v1", "first"), ("", "second")],
                         ids=["branch", "tag", "default-head"])
def test_clone_follows_branches_tags_and_head(tmp_path: Path, repo: git.Repo, revision: str,
                                              expected: str) -> None:
    done, workspace, _ = _run(tmp_path, {"url": repo.working_dir, "revision": revision})
    assert done.returncode == 0, done.stderr
    assert (workspace / "README").read_text() == expected


def test_empty_params_fall_back_to_the_git_event(tmp_path: Path, repo: git.Repo) -> None:
    first = repo.commit("v1").hexsha
    done, workspace, results = _run(tmp_path, {}, {"WISHSTAR_GIT_URL": repo.working_dir,
                                                   "WISHSTAR_GIT_COMMIT": first})
    assert done.returncode == 0, done.stderr
    assert (results / "commit").read_text() == first == _head(workspace)


def test_clone_into_subdirectory_with_full_history(tmp_path: Path, repo: git.Repo) -> None:
    done, workspace, _ = _run(tmp_path, {"url": repo.working_dir, "subdirectory": "src/app", "depth": "0"})
    assert done.returncode == 0, done.stderr
    assert len(list(git.Repo(workspace / "src" / "app").iter_commits())) == 2


def test_existing_files_are_deleted_by_default(tmp_path: Path, repo: git.Repo) -> None:
    (tmp_path / "workspace").mkdir()
    (tmp_path / "workspace" / ".stale").write_text("old")
    done, workspace, _ = _run(tmp_path, {"url": repo.working_dir})
    assert done.returncode == 0, done.stderr
    assert not (workspace / ".stale").exists()


def test_shell_text_in_params_is_never_executed(tmp_path: Path, repo: git.Repo) -> None:
    marker = tmp_path / "pwned"
    done, _, _ = _run(tmp_path, {"url": repo.working_dir, "revision": f"main; touch {marker}",
                                 "subdirectory": f"$(touch {marker})"})
    assert done.returncode != 0
    assert not marker.exists()


@pytest.mark.parametrize(("with_", "message"), [
    ({}, "no repository"),
    ({"url": "x", "depth": "one"}, "depth must be a whole number"),
    ({"url": "x", "subdirectory": "../escape"}, "stay inside the workspace"),
    ({"url": "--upload-pack=touch /tmp/x"}, "must not start with '-'"),
], ids=["no-url", "bad-depth", "escaping-subdirectory", "option-as-url"])
def test_bad_inputs_fail_with_a_message(tmp_path: Path, with_: Mapping[str, ParamValue], message: str) -> None:
    done, _, _ = _run(tmp_path, with_)
    assert done.returncode == 2
    assert message in done.stderr


def test_params_reach_the_script_only_through_env() -> None:
    (step,) = expand_library_task(Library().get("git-clone"), {"url": "$(echo hi)"}).steps
    assert isinstance(step, StepPlan)
    assert "$(echo hi)" not in (step.script or "")
    assert ("PARAM_URL", "$(echo hi)") in [(e.name, e.value) for e in step.env]
