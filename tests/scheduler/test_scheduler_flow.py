"""The pure scheduler: what starts, what is skipped and why, failures, finally tasks and the run's outcome."""

from __future__ import annotations

import pytest

from tests.scheduler.support import Run, plan_of
from wishstar.engine.scheduler.decide import Cancel, Finish, Start, request_cancel

CHAIN = """\
    name: p
    tasks:
      a: {script: x}
      b: {script: x, needs: [a]}
      c: {script: x, needs: [b]}
    finally:
      f: {script: x}
    """

WIDE = """\
    name: p
    onFailure: {on_failure}
    tasks:
      fails: {{script: x}}
      slow: {{script: x}}
      later: {{script: x, needs: [fails, slow]}}
      other: {{script: x, needs: [slow]}}
    finally:
      report: {{script: x}}
    """


def test_tasks_start_in_dependency_order_and_finally_runs_last() -> None:
    run = Run(plan_of(CHAIN))
    assert run.started() == ["a"]
    assert run.started() == []  # idempotent: a is running
    run.finish("a")
    assert run.started() == ["b"]
    run.finish("b")
    assert run.started() == ["c"]
    run.finish("c")
    assert run.started() == ["f"]
    run.finish("f")
    assert run.decide() == [Finish("succeeded", None)]
    assert run.state.status == "succeeded"


def test_a_finished_run_decides_nothing_more() -> None:
    run = Run(plan_of(CHAIN))
    for name in ("a", "b", "c", "f"):
        run.started()
        run.finish(name)
    run.decide()
    assert run.decide() == []


def test_fail_fast_starts_nothing_new_and_skips_pending_tasks_naming_the_failure() -> None:
    run = Run(plan_of(WIDE.format(on_failure="wait")))
    assert run.started() == ["fails", "slow"]
    run.finish("fails", ok=False)
    assert run.decide() == []  # wait: slow keeps running, nothing new starts, no cancel
    assert (run.status("later"), run.reason("later")) == ("skipped", 'not started: task "fails" failed')
    assert (run.status("other"), run.reason("other")) == ("skipped", 'not started: task "fails" failed')
    assert run.status("slow") == "running"
    run.finish("slow")
    assert run.started() == ["report"]
    run.finish("report")
    assert run.decide() == [Finish("failed", 'task "fails" failed: exit 1')]


def test_on_failure_cancel_cancels_running_tasks_and_still_runs_finally() -> None:
    run = Run(plan_of(WIDE.format(on_failure="cancel")))
    run.started()
    run.finish("fails", ok=False)
    assert run.decide() == [Cancel("slow", "cancelled: another task failed (onFailure: cancel)")]
    run.finish("slow", ok=False, cancelled=True)
    assert run.reason("slow") == "cancelled: another task failed (onFailure: cancel)"
    assert run.started() == ["report"]
    run.finish("report")
    assert run.decide() == [Finish("failed", 'task "fails" failed: exit 1')]


def test_the_outcome_names_the_failed_task_not_one_cancelled_because_of_it() -> None:
    run = Run(plan_of(WIDE.format(on_failure="cancel").replace("fails:", "zfails:").replace("[fails,", "[zfails,")))
    run.started()
    run.finish("zfails", ok=False)
    run.decide()
    run.finish("slow", ok=False, cancelled=True)
    run.started()
    run.finish("report")
    run.decide()
    assert run.state.reason == 'task "zfails" failed: exit 1'


def test_a_cancel_request_cancels_running_tasks_runs_finally_and_ends_cancelled() -> None:
    run = Run(plan_of(CHAIN))
    run.started()
    run.state = request_cancel(run.state)
    assert run.decide() == [Cancel("a", "cancelled: the run was cancelled")]
    assert run.reason("b") == "not started: the run was cancelled"
    run.finish("a", ok=False, cancelled=True)
    assert run.reason("a") == "cancelled: the run was cancelled"
    assert run.started() == ["f"]
    run.finish("f")
    assert run.decide() == [Finish("cancelled", "the run was cancelled")]


def test_a_failing_finally_task_fails_the_run() -> None:
    run = Run(plan_of(CHAIN))
    for name in ("a", "b", "c"):
        run.started()
        run.finish(name)
    run.started()
    run.finish("f", ok=False)
    assert run.decide() == [Finish("failed", 'task "f" failed: exit 1')]


def test_allow_failure_does_not_fail_the_run_and_dependents_still_run() -> None:
    run = Run(plan_of("""\
        name: p
        tasks:
          lint: {script: x, allowFailure: true}
          build: {script: x, needs: [lint]}
        """))
    run.started()
    run.finish("lint", ok=False)
    assert run.started() == ["build"]
    run.finish("build")
    assert run.decide() == [Finish("succeeded", None)]
    assert run.status("lint") == "failed"


WHEN = """\
    name: p
    tasks:
      version:
        script: x
        results: [tag]
        when: 'git.branch == "main"'
      build: {script: x, needs: [version]}
      push: {script: "push $(tasks.version.results.tag)"}
    """


def test_when_false_skips_with_the_reason() -> None:
    run = Run(plan_of(WHEN), git={"branch": "feature"})
    run.decide()
    assert (run.status("version"), run.reason("version")) == (
        "skipped", 'when condition was false: git.branch == "main"')


def test_needing_a_skipped_task_runs_but_consuming_its_result_skips() -> None:
    run = Run(plan_of(WHEN), git={"branch": "feature"})
    assert run.started() == ["build"]
    assert (run.status("push"), run.reason("push")) == (
        "skipped", 'it uses result "tag" of task "version", which was skipped')
    run.finish("build")
    assert run.decide() == [Finish("succeeded", None)]


def test_a_result_that_was_not_produced_skips_its_consumer() -> None:
    run = Run(plan_of(WHEN))
    assert run.started() == ["version"]
    run.finish("version", results={})
    assert run.started() == ["build"]
    assert run.reason("push") == 'result "tag" of task "version" was not produced'


def test_a_produced_result_lets_its_consumer_start() -> None:
    run = Run(plan_of(WHEN))
    run.started()
    run.finish("version", results={"tag": "v1"})
    assert run.started() == ["build", "push"]


def test_a_when_that_cannot_be_evaluated_fails_the_task() -> None:
    run = Run(plan_of("name: p\ntasks:\n  a: {script: x, when: 'git.nope == \"x\"'}\n"))
    run.decide()
    assert run.status("a") == "failed"
    assert run.reason("a", ).startswith("when condition 'git.nope == \"x\"' could not be evaluated")


@pytest.mark.parametrize("limit", [1, 2, 3], ids=["one", "two", "three"])
def test_the_concurrency_limit_is_respected(limit: int) -> None:
    run = Run(plan_of("name: p\ntasks:\n" + "".join(f"  t{i}: {{script: x}}\n" for i in range(5))), limit=limit)
    running: list[str] = []
    done = 0
    while run.state.status == "running":
        running += run.started()
        assert sum(1 for s in run.state.tasks.values() if s.status == "running") <= limit
        if running:
            run.finish(running.pop(0))
            done += 1
    assert done == 5
    assert [a for a in run.actions if isinstance(a, Start)] == [Start(f"t{i}", 1) for i in range(5)]
