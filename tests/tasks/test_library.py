"""The task Library: built-in and extra directories, lazy parsing, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from wishstar.engine.spec.errors import ValidationFailed
from wishstar.engine.spec.model import Task
from wishstar.tasks import Library, LibraryDirectoryMissing, UnknownTask

ECHO = """\
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: {name}
spec:
  steps:
    - image: busybox
      script: echo {name}
"""


def test_builtin_tasks_are_listed_by_file_name() -> None:
    assert {"git-clone", "pytest", "echo"} <= set(Library().names())


def test_every_builtin_task_is_valid() -> None:
    assert Library().check() == []


def test_unknown_task_error_names_the_close_match() -> None:
    with pytest.raises(UnknownTask, match=r'unknown library task "git-clon" \(did you mean "git-clone"\?\)'):
        Library().get("git-clon")


def test_extra_directory_shadows_a_builtin_task(tmp_path: Path) -> None:
    (tmp_path / "echo.yaml").write_text(ECHO.format(name="echo"))
    library = Library([tmp_path])
    assert library.source("echo") == str(tmp_path / "echo.yaml")
    assert "echo echo" in (library.get("echo").spec.steps[0].script or "")


def test_listing_names_parses_no_file(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("spec: [")
    assert Library([tmp_path], builtin=False).names() == ["broken"]


def test_bad_library_file_is_reported_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(ECHO.format(name="bad").replace("  steps:", "  stesp: []\n  steps:"))
    with pytest.raises(ValidationFailed) as info:
        Library([tmp_path], builtin=False).get("bad")
    assert str(info.value).startswith(f'{tmp_path / "bad.yaml"}:6 spec.stesp: unknown field "stesp"')


def test_task_name_must_match_its_file_name(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(ECHO.format(name="two"))
    with pytest.raises(ValidationFailed, match=r':4 metadata.name: the task in one.yaml is named "two"'):
        Library([tmp_path], builtin=False).get("one")


def test_parsed_tasks_are_cached(tmp_path: Path) -> None:
    (tmp_path / "once.yaml").write_text(ECHO.format(name="once"))
    library = Library([tmp_path], builtin=False)
    first = library.get("once")
    (tmp_path / "once.yaml").write_text("not: a task")
    assert library.get("once") is first


def test_missing_extra_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LibraryDirectoryMissing, match="does not exist"):
        Library([tmp_path / "nope"])


def test_uses_info_reports_bad_with_values_below_the_task() -> None:
    task = Task.model_validate({"uses": "git-clone", "with": {"revison": "main"}})
    info = Library().uses_info(task)
    assert info is not None
    assert info.results == ("commit", "url")
    assert info.workspaces == (("output", False),)
    assert info.problems == ((("with", "revison"), 'task "git-clone" has no param "revison"',
                              'did you mean "revision"?'),)


def test_uses_info_is_none_for_a_task_the_library_lacks() -> None:
    assert Library().uses_info(Task.model_validate({"uses": "nothing-here"})) is None


def test_expander_turns_pytest_args_into_step_args() -> None:
    expansion = Library().expander()("pytest", {"args": ["-x", "tests"]})
    assert expansion.steps[0].args == ("-x", "tests")
    assert expansion.workspaces == (("source", True, False, None),)
