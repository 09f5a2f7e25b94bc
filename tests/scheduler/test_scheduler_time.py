"""Time in the scheduler: retry backoff and the pipeline timeout, with the clock passed in as a float."""

from __future__ import annotations

import pytest

from tests.scheduler.support import Run, plan_of
from wishstar.engine.scheduler.decide import Cancel, Finish, Start

RETRY = """\
    name: p
    tasks:
      flaky:
        script: x
        retries: {{limit: {limit}, backoff: 10s, factor: 3, maxBackoff: {cap}}}
      after: {{script: x, needs: [flaky]}}
    """


def test_a_failed_attempt_waits_out_its_backoff_before_the_retry() -> None:
    run = Run(plan_of(RETRY.format(limit=2, cap="5m")), now=100.0)
    run.started()
    run.finish("flaky", ok=False)
    assert run.status("flaky") == "pending"
    assert run.state.task("flaky").retry_at == 110.0
    assert run.reason("flaky") == "attempt 1 failed (exit 1); retrying in 10s"
    assert run.decide() == []
    assert run.last is not None and run.last.wake_at == 110.0
    run.now = 109.9
    assert run.decide() == []
    run.now = 110.0
    assert run.decide() == [Start("flaky", 2)]


@pytest.mark.parametrize(("attempt", "delay"), [(1, 10.0), (2, 30.0), (3, 90.0), (4, 120.0), (5, 120.0)],
                         ids=["first", "second", "third", "capped", "still-capped"])
def test_backoff_grows_by_the_factor_and_is_capped(attempt: int, delay: float) -> None:
    run = Run(plan_of(RETRY.format(limit=5, cap="2m")))
    for n in range(1, attempt + 1):
        run.now = run.state.task("flaky").retry_at or run.now
        assert run.started() == ["flaky"]
        assert run.state.task("flaky").attempts == n
        run.finish("flaky", ok=False)
    assert run.state.task("flaky").retry_at == pytest.approx(run.now + delay)


def test_a_success_on_retry_lets_dependents_run() -> None:
    run = Run(plan_of(RETRY.format(limit=1, cap="5m")))
    run.started()
    run.finish("flaky", ok=False)
    run.now = 10.0
    assert run.started() == ["flaky"]
    run.finish("flaky")
    assert run.started() == ["after"]


def test_retries_exhausted_fail_the_task_and_the_run() -> None:
    run = Run(plan_of(RETRY.format(limit=1, cap="5m")))
    run.started()
    run.finish("flaky", ok=False)
    run.now = 10.0
    run.started()
    run.finish("flaky", ok=False)
    assert run.status("flaky") == "failed"
    assert run.decide() == [Finish("failed", 'task "flaky" failed: exit 1')]
    assert run.state.task("after").reason == 'not started: task "flaky" failed'


def test_no_retry_once_another_task_has_failed() -> None:
    run = Run(plan_of("""\
        name: p
        tasks:
          broken: {script: x}
          flaky: {script: x, retries: 3}
        """))
    run.started()
    run.finish("broken", ok=False)
    run.finish("flaky", ok=False)
    assert run.status("flaky") == "failed"


TIMEOUT = """\
    name: p
    timeout: 1m
    tasks:
      long: {script: x}
      next: {script: x, needs: [long]}
    finally:
      cleanup: {script: x}
    """


def test_the_pipeline_deadline_is_reported_as_wake_at() -> None:
    run = Run(plan_of(TIMEOUT), now=1000.0)
    run.decide()
    assert run.last is not None and run.last.wake_at == 1060.0


def test_a_pipeline_timeout_cancels_running_tasks_runs_finally_and_fails_the_run() -> None:
    run = Run(plan_of(TIMEOUT), now=1000.0)
    run.started()
    run.now = 1060.0
    assert run.decide() == [Cancel("long", "cancelled: the pipeline timed out")]
    assert run.state.timed_out
    assert run.reason("next") == "not started: the pipeline timed out"
    run.finish("long", ok=False, cancelled=True)
    assert run.reason("long") == "cancelled: the pipeline timed out"
    assert run.started() == ["cleanup"]
    run.finish("cleanup")
    assert run.decide() == [Finish("failed", "the pipeline timed out")]


def test_the_earliest_of_deadline_and_retry_is_the_wake_time() -> None:
    run = Run(plan_of("""\
        name: p
        timeout: 1m
        tasks:
          flaky: {script: x, retries: {limit: 1, backoff: 5s}}
        """))
    run.started()
    run.finish("flaky", ok=False)
    run.decide()
    assert run.last is not None and run.last.wake_at == 5.0
