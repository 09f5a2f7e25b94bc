"""The generated Maven pipeline runs the project's real tests with the real toolchain (Java 17 and Maven are
installed here; the first run downloads junit-jupiter and surefire from Maven Central): the plain fixture
passes with Maven's test summary in the log, and the failing fixture fails at the test task with the
failing test's message in ``wishstar logs``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.pipelines.detect.jvm_dotnet_golden import FIXTURES, render
from tests.pipelines.detect.render_cases import commit_with_pipeline, wishstar
from wishstar.pipelines.detect.java import DETECTOR

pytestmark = [pytest.mark.toolchain, pytest.mark.timeout(600)]


def _repo(case: str, tmp_path: Path) -> Path:
    """The fixture copied into a fresh git repository with its generated ``.wishstar.yaml`` committed."""
    path = tmp_path / case
    shutil.copytree(FIXTURES / case, path)
    return commit_with_pipeline(path, render(DETECTOR, case).pipeline)


def test_the_generated_maven_pipeline_runs_the_real_tests_and_succeeds(tmp_path: Path) -> None:
    run = wishstar(tmp_path, "run", str(_repo("java-maven-plain", tmp_path)), "--output", "json")
    assert run.returncode == 0, run.stdout + run.stderr
    logs = wishstar(tmp_path, "logs", json.loads(run.stdout)["id"], "test")
    assert "Tests run: 2, Failures: 0, Errors: 0, Skipped: 0" in logs.stdout
    assert "BUILD SUCCESS" in logs.stdout


def test_a_failing_junit_test_fails_the_test_task_with_its_output_in_the_logs(tmp_path: Path) -> None:
    run = wishstar(tmp_path, "run", str(_repo("java-maven-failing", tmp_path)), "--output", "json")
    assert run.returncode == 1, run.stdout + run.stderr
    record = json.loads(run.stdout)
    assert record["reason"] == 'task "test" failed: step run exited with 1'
    logs = wishstar(tmp_path, "logs", record["id"], "test")
    assert "hyphenatedWordsCountTwice" in logs.stdout
    assert "hyphenated words should count twice ==> expected: <4> but was: <2>" in logs.stdout
    assert "Tests run: 2, Failures: 1" in logs.stdout
