"""The runner with the fake executor and a real SQLite store: what it starts, cancels and records."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from wishstar.engine.compiler.build import compile_pipeline
from wishstar.engine.compiler.types import GitContext, Plan, RunContext
from wishstar.engine.executors.base import RunEnv
from wishstar.engine.executors.fake import FAIL, FakeExecutor, FakeOutcome
from wishstar.engine.runner import Runner, RunOptions, base_env
from wishstar.engine.spec.validate import validate_text
from wishstar.engine.store.api import Store
from wishstar.engine.store.logs import LogStore


def _plan(text: str, ctx: RunContext) -> Plan:
    pipeline, _ = validate_text(textwrap.dedent(text), ".wishstar.yaml", lambda t: None, [])
    return compile_pipeline(pipeline, ctx, lambda n, w: None)  # type: ignore[arg-type,return-value]


def _run(tmp_path: Path, text: str, fake: FakeExecutor, *, secrets: dict[str, str] | None = None,
         concurrency: int = 4, after_start=None, placed: bool = False) -> tuple[dict, Runner]:
    store = Store.open(None, tmp_path)
    run_id, number = store.create_run("p", git={"branch": "main"})
    ctx = RunContext(run_id=run_id, number=number, git=GitContext(branch="main", commit="abc"))
    plan = _placed(text, ctx) if placed else _plan(text, ctx)
    env = RunEnv(run_id, str(tmp_path / "run"), str(tmp_path / "run"), plan.workspaces)
    runner = Runner(plan, ctx, fake, store, LogStore(tmp_path), env, secrets=secrets or {},
                    base_env=base_env(ctx, plan.pipeline, {"PATH": "/usr/bin"}),
                    options=RunOptions(concurrency=concurrency, flush_interval=0.0, cancel_poll=0.05))

    async def main() -> None:
        task = asyncio.create_task(runner.run())
        if after_start is not None:
            await after_start(runner, fake)
        await task

    asyncio.run(main())
    data = store.get_run(run_id)
    store.close()
    return data, runner


def _tasks(run: dict) -> dict[str, dict]:
    return {t.name: t for t in run.tasks}


def test_tasks_start_in_dependency_order_and_results_reach_later_tasks(tmp_path):
    fake = FakeExecutor({"version": [FakeOutcome(results={"tag": "1.2.3"})]})
    run, _ = _run(tmp_path, """
        name: p
        tasks:
          version:
            results: [tag]
            script: printf x > $(results.tag.path)
          build:
            script: echo building $(tasks.version.results.tag)
    """, fake)
    assert fake.started_order == ["version", "build"]
    assert fake.calls[1].steps[0].script == "echo building 1.2.3"
    assert run.status == "succeeded"
    assert _tasks(run)["version"].results == {"tag": "1.2.3"}


def test_git_values_reach_steps_as_environment_only(tmp_path):
    fake = FakeExecutor()
    _run(tmp_path, """
        name: p
        tasks:
          show:
            script: echo "$WISHSTAR_GIT_BRANCH"
    """, fake)
    step = fake.calls[0].steps[0]
    assert step.env["WISHSTAR_GIT_BRANCH"] == "main"
    assert step.env["WISHSTAR_BUILD_NUMBER"] == "1"
    assert step.script == 'echo "$WISHSTAR_GIT_BRANCH"'


def test_the_concurrency_limit_holds(tmp_path):
    fake = FakeExecutor(default=FakeOutcome(duration_s=0.01))
    tasks = "\n".join(f"  t{i}:\n    script: 'true'" for i in range(8))
    _run(tmp_path, f"name: p\ntasks:\n{tasks}\n", fake, concurrency=3)
    assert fake.max_running == 3
    assert len(fake.calls) == 8


def test_a_retry_is_recorded_as_a_second_attempt(tmp_path):
    fake = FakeExecutor({"flaky": [FAIL, FakeOutcome()]})
    run, _ = _run(tmp_path, """
        name: p
        tasks:
          flaky:
            retries: {limit: 1, backoff: 10ms}
            script: 'true'
    """, fake)
    task = _tasks(run)["flaky"]
    assert [c.attempt for c in fake.calls] == [1, 2]
    assert task.attempts == 2 and task.status == "succeeded"
    assert {s.attempt for s in task.steps} == {1, 2}


def test_on_failure_cancel_stops_running_siblings(tmp_path):
    hold = asyncio.Event()
    fake = FakeExecutor({"slow": [FakeOutcome(hold=hold)], "bad": [FAIL]})
    run, _ = _run(tmp_path, """
        name: p
        onFailure: cancel
        tasks:
          slow:
            script: sleep 100
          bad:
            script: exit 1
          later:
            needs: [bad]
            script: 'true'
    """, fake)
    tasks = _tasks(run)
    assert fake.cancelled == ["slow"]
    assert tasks["slow"].status == "cancelled"
    assert tasks["later"].status == "skipped"
    assert run.status == "failed" and 'task "bad" failed' in run.reason


def test_cancelling_runs_finally_and_records_cancelled(tmp_path):
    hold = asyncio.Event()
    fake = FakeExecutor({"slow": [FakeOutcome(hold=hold)]})

    async def cancel_when_started(runner: Runner, fake: FakeExecutor) -> None:
        await fake.started("slow").wait()
        runner.cancel()

    run, _ = _run(tmp_path, """
        name: p
        tasks:
          slow:
            script: sleep 100
        finally:
          report:
            script: echo $(tasks.status)
    """, fake, after_start=cancel_when_started)
    assert run.status == "cancelled"
    assert _tasks(run)["slow"].status == "cancelled"
    assert fake.calls[-1].steps[0].script == "echo cancelled"


PROTECTED = """
    name: p
    tasks:
      deploy:
        interruptible: false
        script: sleep 100
      lint:
        script: sleep 100
      after:
        needs: [deploy]
        script: 'true'
    finally:
      report:
        script: echo $(tasks.status)
"""


def test_a_cancel_cancels_only_the_tasks_the_scheduler_names_and_a_protected_one_finishes(tmp_path):
    hold, lint = asyncio.Event(), asyncio.Event()
    fake = FakeExecutor({"deploy": [FakeOutcome(hold=hold)], "lint": [FakeOutcome(hold=lint)]})

    async def cancel_then_let_deploy_end(runner: Runner, fake: FakeExecutor) -> None:
        await fake.started("deploy").wait()
        runner.cancel()
        while "lint" not in fake.cancelled:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # several turns of the loop: deploy must still be running
        assert fake.cancelled == ["lint"]
        hold.set()

    run, _ = _run(tmp_path, PROTECTED, fake, after_start=cancel_then_let_deploy_end)
    tasks = _tasks(run)
    assert run.status == "cancelled"
    assert tasks["deploy"].status == "succeeded"  # finished, its outcome counts
    assert (tasks["lint"].status, tasks["lint"].reason) == ("cancelled", "cancelled: the run was cancelled")
    assert tasks["after"].status == "skipped"
    assert tasks["report"].status == "succeeded" and fake.calls[-1].steps[0].script == "echo cancelled"


def test_a_forced_cancel_stops_a_protected_task_and_runs_no_finally_task(tmp_path):
    hold = asyncio.Event()
    fake = FakeExecutor({"deploy": [FakeOutcome(hold=hold)], "lint": [FakeOutcome(hold=hold)]})

    async def press_twice(runner: Runner, fake: FakeExecutor) -> None:
        await fake.started("deploy").wait()
        runner.cancel()
        await asyncio.sleep(0.1)
        runner.cancel(force=True)

    run, _ = _run(tmp_path, PROTECTED, fake, after_start=press_twice)
    tasks = _tasks(run)
    assert run.status == "cancelled"
    assert sorted(fake.cancelled) == ["deploy", "lint"]
    assert tasks["deploy"].status == "cancelled"
    assert (tasks["report"].status, tasks["report"].reason) == ("cancelled",
                                                                      "cancelled before it started (forced stop)")
    assert "report" not in [c.name for c in fake.calls]


class CountingFake(FakeExecutor):
    """Counts the turns of the runner's loop (it asks each running task's waiting reason once per turn)."""

    turns = 0

    def waiting_reason(self, task, run_id=None):  # type: ignore[no-untyped-def]
        self.turns += 1
        return None


def test_after_a_cancel_the_runner_waits_for_its_tasks_instead_of_spinning(tmp_path):
    hold = asyncio.Event()
    fake = CountingFake({"report": [FakeOutcome(hold=hold)]})

    async def cancel_during_finally(runner: Runner, fake: CountingFake) -> None:
        await fake.started("report").wait()
        runner.cancel()
        await asyncio.sleep(0.05)
        before = fake.turns
        await asyncio.sleep(0.5)
        hold.set()
        assert fake.turns - before < 50  # a turn per cancel_poll (0.05 s) or event, not thousands

    run, _ = _run(tmp_path, """
        name: p
        tasks:
          a:
            script: 'true'
        finally:
          report:
            script: 'true'
    """, fake, after_start=cancel_during_finally)
    assert run.status == "cancelled" and _tasks(run)["report"].status == "succeeded"


def test_a_missing_secret_fails_only_that_task_with_a_hint(tmp_path):
    fake = FakeExecutor()
    run, _ = _run(tmp_path, """
        name: p
        tasks:
          deploy:
            env: {TOKEN: {secret: deploy-token}}
            script: deploy
    """, fake)
    task = _tasks(run)["deploy"]
    assert task.status == "failed"
    assert 'needs secret "deploy-token"' in task.reason and "--secret" in task.reason
    assert fake.calls == []


def test_secret_values_in_results_and_reasons_are_masked_in_the_store(tmp_path):
    fake = FakeExecutor({"leak": [FakeOutcome(status="failed", results={"copy": "tok-123456"},
                                              reason="server said tok-123456 is invalid")]})
    run, _ = _run(tmp_path, """
        name: p
        tasks:
          leak:
            env: {TOKEN: {secret: token}}
            results: [copy]
            script: echo
    """, fake, secrets={"token": "tok-123456"})
    task = _tasks(run)["leak"]
    assert task.results == {"copy": "***"}
    assert "tok-123456" not in task.reason and "***" in task.reason
    assert fake.calls[0].steps[0].env["TOKEN"] == "tok-123456"


def test_secrets_the_executor_provides_are_masked_and_never_pass_through_the_runner(tmp_path):
    asked: list[dict] = []

    class Providing(FakeExecutor):
        async def provide_secrets(self, run, wanted):  # type: ignore[no-untyped-def]
            asked.append(dict(wanted))
            return {"harbor": ("pw-998877",)}

    fake = Providing({"push": [FakeOutcome(status="failed", reason="login pw-998877 refused")]})
    run, _ = _run(tmp_path, """
        name: p
        tasks:
          push:
            env: {PASSWORD: {secret: harbor, secretKey: password}, TOKEN: {secret: given}}
            script: echo
    """, fake, secrets={"given": "tok-1"})
    assert asked == [{"harbor": frozenset({"password"})}]  # only what the run was not given
    assert "PASSWORD" not in fake.calls[0].steps[0].env and fake.calls[0].steps[0].env["TOKEN"] == "tok-1"
    assert _tasks(run)["push"].reason == "login *** refused"


def test_an_executor_error_fails_the_task_not_the_engine(tmp_path):
    fake = FakeExecutor({"boom": [FakeOutcome(error=RuntimeError("disk full"))]})
    run, _ = _run(tmp_path, """
        name: p
        tasks:
          boom:
            script: 'true'
    """, fake)
    assert _tasks(run)["boom"].status == "failed"
    assert "disk full" in _tasks(run)["boom"].reason
    assert fake.events[-1].kind == "teardown"


@pytest.mark.parametrize("flag", [True, False], ids=["allow-failure", "strict"])
def test_allow_failure_decides_whether_a_failed_task_fails_the_run(tmp_path, flag):
    fake = FakeExecutor({"lint": [FAIL]})
    run, _ = _run(tmp_path, f"""
        name: p
        tasks:
          lint:
            allowFailure: {str(flag).lower()}
            script: exit 1
          test:
            needs: [lint]
            script: 'true'
    """, fake)
    assert run.status == ("succeeded" if flag else "failed")
    assert _tasks(run)["test"].status == ("succeeded" if flag else "skipped")


def test_a_setup_failure_marks_the_run_failed_with_the_reason(tmp_path):
    class Refusing(FakeExecutor):
        async def setup(self, run):  # type: ignore[no-untyped-def]
            raise PermissionError("pods is forbidden: cannot list")

    store = Store.open(None, tmp_path)
    run_id, number = store.create_run("p")
    ctx = RunContext(run_id=run_id, number=number)
    plan = _plan("name: p\ntasks:\n  a:\n    script: 'true'\n", ctx)
    runner = Runner(plan, ctx, Refusing(), store, LogStore(tmp_path), RunEnv(run_id, str(tmp_path), None),
                    secrets={}, base_env={})
    with pytest.raises(PermissionError):
        asyncio.run(runner.run())
    run = store.get_run(run_id)
    assert run.status == "failed" and "cannot list" in run.reason


def test_why_a_started_task_waits_is_its_reason_while_it_lasts(tmp_path):
    hold = asyncio.Event()
    seen: list[str | None] = []

    class Pending(FakeExecutor):
        reason: str | None = "unschedulable: 0/2 nodes are available"

        def waiting_reason(self, task, run_id=None):  # type: ignore[no-untyped-def]
            return self.reason

    fake = Pending({"build": [FakeOutcome(hold=hold)]})

    async def watch(runner: Runner, fake: Pending) -> None:
        await fake.started("build").wait()
        for _ in range(50):
            await asyncio.sleep(0.02)
            if runner.state and runner.state.task("build").reason:
                break
        seen.append(runner.state.task("build").reason if runner.state else None)
        fake.reason = None
        for _ in range(50):
            await asyncio.sleep(0.02)
            if runner.state and not runner.state.task("build").reason:
                break
        seen.append(runner.state.task("build").reason if runner.state else "unset")
        hold.set()

    run, _ = _run(tmp_path, """
        name: p
        tasks:
          build:
            script: make
    """, fake, after_start=watch)
    assert seen == ["waiting: unschedulable: 0/2 nodes are available", None]
    assert run.status == "succeeded"


def _placed(text: str, ctx: RunContext) -> Plan:
    """The plan as ``wishstar run --executor kubernetes`` runs it: chains merged per ``placement:``."""
    from wishstar.engine.compiler.placement import apply_placement

    return apply_placement(_plan(text, ctx))


ONE_POD = """
    name: p
    placement: one-pod
    tasks:
      build:
        results: [tag]
        script: printf 1.0 > $(results.tag.path)
      test:
        needs: [build]
        script: echo "$(tasks.build.results.tag)"
      package:
        needs: [test]
        script: "true"
      publish:
        needs: [package]
        when: "event == 'manual'"
        script: echo publishing $(tasks.build.results.tag)
    finally:
      report:
        script: echo "$(tasks.test.status)"
"""


def test_a_merged_chain_runs_as_one_task_and_records_its_members(tmp_path):
    fake = FakeExecutor({"build+test+package": [FakeOutcome(results={"build.tag": "1.0"})]})
    run, _ = _run(tmp_path, ONE_POD, fake, placed=True)
    assert fake.started_order == ["build+test+package", "publish", "report"]
    assert fake.calls[1].steps[0].script == "echo publishing 1.0"
    assert fake.calls[2].steps[0].script == 'echo "succeeded"'
    tasks = _tasks(run)
    assert [t.name for t in run.tasks] == ["build+test+package", "build", "test", "package", "publish",
                                                 "report"]
    assert {n: tasks[n].status for n in ("build", "test", "package")} == dict.fromkeys(
        ("build", "test", "package"), "succeeded")
    assert tasks["build"].results == {"tag": "1.0"}


def test_the_member_whose_step_failed_fails_and_the_earlier_ones_succeeded(tmp_path):
    text = ONE_POD.replace('script: "true"', 'script: "false"')
    fake = FakeExecutor({"build+test+package": [FakeOutcome(status="failed", exit_code=1)]})
    run, _ = _run(tmp_path, text, fake, placed=True)
    tasks = _tasks(run)
    # the fake executor fails the last step: package fails, build and test succeeded
    assert [tasks[n].status for n in ("build", "test", "package")] == ["succeeded", "succeeded", "failed"]
    assert run.status == "failed"


def test_a_resumed_run_keeps_the_member_states_of_a_merged_chain_that_had_ended(tmp_path):
    from wishstar.engine.resume import resume_state

    text = ONE_POD.replace('script: "true"', 'script: "false"')
    fake = FakeExecutor({"build+test+package": [FakeOutcome(status="failed", exit_code=1)]})
    first, runner = _run(tmp_path / "a", text, fake, placed=True)
    before = {t.name: t.status for t in first.tasks}
    assert [before[n] for n in ("build", "test", "package")] == ["succeeded", "succeeded", "failed"]
    # a second engine takes the run over from the store (as `runs resume` or a replica's takeover does)
    store = Store.open(None, tmp_path / "a")
    again = Runner(runner.plan, runner.ctx, FakeExecutor(), store, LogStore(tmp_path / "a"), runner.env,
                   secrets={}, base_env={}, options=RunOptions(flush_interval=0.0))
    state = asyncio.run(again.run(resume_state(runner.plan, store.get_run(runner.ctx.run_id), 0.0, reattach=True)))
    assert str(state.status) == "failed"
    after = {t.name: t.status for t in store.get_run(runner.ctx.run_id).tasks}
    assert after == before


CHAIN = """
    name: p
    tasks:
      a:
        script: "true"
      b:
        needs: [a]
        script: "true"
"""


def _runner(tmp_path: Path, fake: FakeExecutor, options: RunOptions) -> tuple[Runner, Store]:
    store = Store.open(None, tmp_path)
    run_id, number = store.create_run("p", git={"branch": "main"})
    ctx = RunContext(run_id=run_id, number=number, git=GitContext(branch="main", commit="abc"))
    plan = _plan(CHAIN, ctx)
    env = RunEnv(run_id, str(tmp_path / "run"), str(tmp_path / "run"), plan.workspaces)
    return Runner(plan, ctx, fake, store, LogStore(tmp_path), env, secrets={}, base_env={}, options=options), store


def test_a_resumed_run_stops_what_the_dead_engine_left_running_before_any_attempt_starts(tmp_path):
    from wishstar.engine.resume import resume_state

    fake = FakeExecutor()
    runner, store = _runner(tmp_path, fake, RunOptions(flush_interval=0.0))
    store.upsert_tasks(runner.ctx.run_id, [{"name": "a", "status": "running", "attempts": 1}])
    state = asyncio.run(runner.run(resume_state(runner.plan, store.get_run(runner.ctx.run_id), 0.0)))
    assert str(state.status) == "succeeded"
    assert [(e.kind, e.task, e.attempt) for e in fake.events][:3] == [
        ("setup", None, None), ("stop_leftovers", None, None), ("start", "a", 2)]
    store.close()


def test_a_fresh_run_looks_for_no_leftovers(tmp_path):
    fake = FakeExecutor()
    runner, store = _runner(tmp_path, fake, RunOptions(flush_interval=0.0))
    asyncio.run(runner.run())
    assert "stop_leftovers" not in [e.kind for e in fake.events]
    store.close()


@pytest.mark.parametrize("each_end", [True, False])
def test_with_flush_each_end_an_attempts_end_is_stored_before_the_next_task_starts(tmp_path, each_end):
    seen: list[str] = []

    class Watching(FakeExecutor):
        async def execute(self, task, sink):  # type: ignore[no-untyped-def]
            if task.name == "b":
                seen.append(_tasks(store.get_run(runner.ctx.run_id))["a"].status)
            return await super().execute(task, sink)

    runner, store = _runner(tmp_path, Watching(), RunOptions(flush_interval=60.0, flush_each_end=each_end))
    asyncio.run(runner.run())
    # batched (the default), the end of `a` waits for the next flush: a kill now would lose it
    assert len(seen) == 1 and (seen[0] == "succeeded") is each_end
    store.close()
