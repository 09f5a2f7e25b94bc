"""Every language task whose toolchain is installed here (maven: Maven and Java 17; go; npm: node and npm;
python: python3 -m venv and pip from PyPI) runs a real sample project through ``wishstar run``: a passing
project passes with the test tool's own summary in ``wishstar logs``, and a failing test fails the task with
the test's message in the log. The params each task offers are tested in test_language_tasks_<task>.py;
gradle and dotnet, whose toolchains are not here, in test_language_tasks_gradle_dotnet.py."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.tasks.language_tasks import Ran, pipeline, project, run

pytestmark = [pytest.mark.toolchain, pytest.mark.timeout(600)]


class Case(NamedTuple):
    task: str
    tool: str
    fixture: str
    step: str
    said: tuple[str, ...]


PASSING = [
    Case("maven", "mvn", "java-maven-plain", "mvn",
         ("maven: mvn -B -ntp verify", "Tests run: 2, Failures: 0, Errors: 0, Skipped: 0", "BUILD SUCCESS")),
    Case("go", "go", "go-stdlib-passing", "go", ("go: go test ./...", "ok  \texample.com/greeter/greet")),
    Case("npm", "npm", "node-express", "install-and-run",
         ("npm: using npm (npm lockfile or none)", "npm: npm ci", "shop-api health check passed", "# fail 0")),
    Case("python", "python3", "python-pytest-passing", "pytest",
         ("python: pip install -r requirements.txt", "2 passed")),
]

FAILING = [
    Case("maven", "mvn", "java-maven-failing", "mvn",
         ("hyphenated words should count twice ==> expected: <4> but was: <2>", "Tests run: 2, Failures: 1")),
    Case("go", "go", "go-failing", "go", ("add(2, 2) = 0, want 4", "--- FAIL: TestAddAddsTwoNumbers")),
    Case("npm", "npm", "node-failing-test", "install-and-run",
         ("calculator fixture: add(2, 2) should be 5", "# fail 1")),
    Case("python", "python3", "python-pytest-failing", "pytest",
         ("AssertionError: two plus two is not five", "1 failed, 1 passed")),
]


def _run(tmp_path: Path, case: Case) -> Ran:
    """The case's fixture run with the task's defaults; every expected line is in the task's log."""
    if shutil.which(case.tool) is None:
        pytest.skip(f"needs {case.tool} on PATH (.ci/run installs it and fails when it is missing)")
    text = pipeline(case.fixture, f"{case.task}@1")
    ran = run(tmp_path, project(tmp_path, case.fixture, text, fixture=case.fixture))
    for said in case.said:
        assert said in ran.log, ran.output + ran.log
    return ran


@pytest.mark.parametrize("case", PASSING, ids=[c.task for c in PASSING])
def test_a_passing_project_passes_with_the_tools_summary_in_the_log(tmp_path: Path, case: Case) -> None:
    ran = _run(tmp_path, case)
    assert ran.code == 0, ran.output + ran.log


@pytest.mark.parametrize("case", FAILING, ids=[c.task for c in FAILING])
def test_a_failing_test_fails_the_task_with_the_tests_message_in_the_log(tmp_path: Path, case: Case) -> None:
    ran = _run(tmp_path, case)
    assert ran.code == 1, ran.output + ran.log
    assert ran.record["reason"].startswith(f'task "test" failed: step {case.step} exited with ')
