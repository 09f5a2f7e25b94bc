"""The members of a chain that ran as one Pod get task states of their own, derived from their steps."""

from __future__ import annotations

from wishstar.engine.compiler.types import RetryPlan, StepPlan, TaskPlan
from wishstar.engine.scheduler.members import LATER_SKIPPED, member_states
from wishstar.engine.scheduler.state import TaskState


def _group() -> TaskPlan:
    steps = tuple(StepPlan(name, None, "true", None, (), (), None, None)
                  for name in ("build.run", "test.unit", "test.lint", "package.run"))
    return TaskPlan(name="build+test+package", base="build+test+package", is_finally=False, uses=None, image=None,
                    steps=steps, needs=(), result_refs=(), when=None, results=("build.tag",), workspaces=(),
                    working_dir=None, timeout_s=None, retries=RetryPlan(), allow_failure=False,
                    members=("build", "test", "package"))


def test_all_members_succeed_with_the_group_and_get_their_own_results() -> None:
    state = TaskState(status="succeeded", attempts=1, exit_code=0, results={"build.tag": "1.0"})
    codes = {"build.run": 0, "test.unit": 0, "test.lint": 0, "package.run": 0}
    members = member_states(_group(), state, codes)
    assert {m: s.status for m, s in members.items()} == {"build": "succeeded", "test": "succeeded",
                                                         "package": "succeeded"}
    assert members["build"].results == {"tag": "1.0"}
    assert members["test"].results == {}


def test_the_first_failing_member_fails_and_later_ones_are_skipped() -> None:
    state = TaskState(status="failed", attempts=1, exit_code=3, reason="step test.lint exited 3")
    codes = {"build.run": 0, "test.unit": 0, "test.lint": 3, "package.run": 0}
    members = member_states(_group(), state, codes)
    assert members["build"].status == "succeeded"
    assert (members["test"].status, members["test"].exit_code, members["test"].reason) == \
        ("failed", 3, "step test.lint exited 3")
    assert (members["package"].status, members["package"].reason) == ("skipped", LATER_SKIPPED)


def test_a_cancelled_group_cancels_the_member_that_was_running() -> None:
    state = TaskState(status="cancelled", attempts=1, reason="cancelled: the run was cancelled")
    members = member_states(_group(), state, {"build.run": 0})
    assert [members[m].status for m in ("build", "test", "package")] == ["succeeded", "cancelled", "skipped"]


def test_a_skipped_group_skips_every_member_for_the_same_reason() -> None:
    state = TaskState(status="skipped", reason='result "x" of task "a" was not produced')
    members = member_states(_group(), state, {})
    assert {s.status for s in members.values()} == {"skipped"}
    assert {s.reason for s in members.values()} == {'result "x" of task "a" was not produced'}
