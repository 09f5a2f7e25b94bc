"""How a run stops, decided by the pure scheduler: which running tasks a stop cancels (``interruptible: false``
ones finish), a forced stop, the reasons cancelled tasks record, and ``$(tasks.status)`` for finally tasks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.scheduler.support import Run, plan_of
from wishstar.engine.compiler.placement import apply_placement
from wishstar.engine.scheduler.decide import Cancel, Finish, request_cancel
from wishstar.engine.scheduler.outcome import FORCED_BEFORE_START, aggregate_status

DEPLOY = """\
    name: p
    onFailure: {on_failure}
    timeout: 1m
    tasks:
      deploy: {{script: x, interruptible: false}}
      lint: {{script: x}}
      after: {{script: x, needs: [deploy]}}
    finally:
      report: {{script: x}}
    """


def deploying(on_failure: str = "wait") -> Run:
    run = Run(plan_of(DEPLOY.format(on_failure=on_failure)), now=1000.0)
    assert run.started() == ["deploy", "lint"]
    return run


def test_the_compiled_task_says_whether_it_is_interruptible() -> None:
    plan = deploying().plan
    assert [t.name for t in plan.all_tasks() if not t.interruptible] == ["deploy"]


def test_a_cancel_lets_a_non_interruptible_task_finish_and_its_success_counts() -> None:
    run = deploying()
    run.state = request_cancel(run.state)
    assert run.decide() == [Cancel("lint", "cancelled: the run was cancelled")]
    assert run.status("deploy") == "running"
    assert (run.status("after"), run.reason("after")) == ("skipped", "not started: the run was cancelled")
    run.finish("lint", ok=False, cancelled=True)
    assert run.started() == []  # finally waits for the deploy
    run.finish("deploy")
    assert run.status("deploy") == "succeeded"
    assert run.started() == ["report"]
    run.finish("report")
    assert run.decide() == [Finish("cancelled", "the run was cancelled")]


def test_a_non_interruptible_task_that_fails_after_a_cancel_is_not_retried() -> None:
    run = Run(plan_of("""\
        name: p
        tasks:
          deploy: {script: x, interruptible: false, retries: 2}
        """))
    run.started()
    run.state = request_cancel(run.state)
    assert run.decide() == []
    run.finish("deploy", ok=False)
    assert (run.status("deploy"), run.reason("deploy")) == ("failed", "exit 1")
    assert run.decide() == [Finish("cancelled", "the run was cancelled")]


def test_on_failure_cancel_does_not_cancel_a_non_interruptible_sibling() -> None:
    run = deploying("cancel")
    run.finish("lint", ok=False)
    assert run.decide() == []
    assert run.status("deploy") == "running"


def test_the_pipeline_timeout_does_not_cancel_a_non_interruptible_task() -> None:
    run = deploying()
    run.now = 1060.0
    assert [a for a in run.decide() if isinstance(a, Cancel)] == [
        Cancel("lint", "cancelled: the pipeline timed out")]
    assert run.status("deploy") == "running"


def test_a_forced_stop_cancels_every_running_task_and_starts_no_finally_task() -> None:
    run = deploying()
    run.state = request_cancel(run.state)
    run.decide()
    run.state = request_cancel(run.state, force=True)
    assert run.decide() == [Cancel("deploy", "cancelled: the run was cancelled"),
                            Cancel("lint", "cancelled: the run was cancelled")]
    assert (run.status("report"), run.reason("report")) == ("cancelled", FORCED_BEFORE_START)
    assert run.state.task("report").attempts == 0
    run.finish("lint", ok=False, cancelled=True)
    run.finish("deploy", ok=False, cancelled=True)
    assert run.decide() == [Finish("cancelled", "the run was cancelled")]


def test_a_forced_stop_cancels_a_running_finally_task() -> None:
    run = Run(plan_of("""\
        name: p
        tasks:
          a: {script: x}
        finally:
          report: {script: x}
        """))
    run.started()
    run.finish("a")
    assert run.started() == ["report"]
    run.state = request_cancel(run.state)
    assert run.decide() == []  # a cancel lets finally tasks run
    run.state = request_cancel(run.state, force=True)
    assert run.decide() == [Cancel("report", "cancelled: the run was cancelled")]


def test_a_merged_chain_is_not_interruptible_when_one_member_is_not() -> None:
    text = """\
        name: p
        placement: one-pod
        tasks:
          build: {script: x}
          deploy: {script: x, needs: [build], interruptible: false}
        """
    plan = apply_placement(plan_of(text))
    run = Run(plan)
    assert run.started() == ["build+deploy"]
    run.state = request_cancel(run.state)
    assert run.decide() == []
    assert apply_placement(plan_of(text.replace(", interruptible: false", ""))).task("build+deploy").interruptible


@pytest.mark.parametrize(("ends", "expected"), [
    ({"a": "succeeded", "b": "succeeded"}, "succeeded"),
    ({"a": "succeeded", "b": "skipped"}, "completed"),
    ({"a": "succeeded", "b": "failed"}, "completed"),  # b may fail
    ({"a": "failed", "b": "succeeded"}, "failed"),
    ({"a": "cancelled", "b": "succeeded"}, "cancelled"),
], ids=["all-succeeded", "one-skipped", "allowed-failure", "failure", "one-cancelled"])
def test_the_aggregate_status_follows_the_regular_tasks(ends: dict[str, str], expected: str) -> None:
    run = Run(plan_of("""\
        name: p
        tasks:
          a: {script: x}
          b: {script: x, allowFailure: true}
        finally:
          f: {script: x}
        """))
    for name, status in ends.items():
        run.state = run.state.with_task(name, status=status)
    assert aggregate_status(run.plan, run.state) == expected


def test_the_aggregate_status_is_cancelled_after_a_cancel_and_failed_after_the_timeout() -> None:
    run = Run(plan_of("""\
        name: p
        tasks:
          a: {script: x}
        """))
    done = run.state.with_task("a", status="succeeded")
    assert aggregate_status(run.plan, request_cancel(done)) == "cancelled"
    assert aggregate_status(run.plan, replace(done, timed_out=True)) == "failed"
