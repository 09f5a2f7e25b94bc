"""Timeouts and cancellation stop a step's whole process group, grandchildren included (real processes)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.executors.support import (
    RecordingSink,
    kill_quietly,
    make_run,
    make_step,
    make_task,
    process_gone,
    wait_for_file,
)
from wishstar.engine.executors.base import ResolvedTask, RunEnv, TaskOutcome
from wishstar.engine.executors.local import LocalExecutor
from wishstar.engine.executors.procs import group_alive


def spawning_script(tmp: Path, trap_term: bool = False) -> tuple[str, Path, Path]:
    """A script that leaves a sleeping grandchild in its group and records both pids, then sleeps."""
    leader, grandchild = tmp / "leader.pid", tmp / "grandchild.pid"
    trap = "trap '' TERM\n" if trap_term else ""
    script = f'{trap}echo $$ > "{leader}"\nsleep 1000 &\necho $! > "{grandchild}"\nsleep 100\n'
    return script, leader, grandchild


def run_task(task: ResolvedTask, run: RunEnv, executor: LocalExecutor) -> TaskOutcome:
    async def main() -> TaskOutcome:
        await executor.setup(run)
        return await executor.execute(task, RecordingSink())

    return asyncio.run(main())


def assert_all_gone(leader_file: Path, grandchild_file: Path) -> None:
    leader, grandchild = int(leader_file.read_text()), int(grandchild_file.read_text())
    try:
        assert process_gone(grandchild), "the grandchild survived"
        assert process_gone(leader)
        assert not group_alive(leader), "a process of the step's group survived"
    finally:
        kill_quietly(grandchild)


class TestStepTimeout:
    def test_a_timed_out_step_is_killed_with_its_grandchildren(self, tmp_path: Path) -> None:
        script, leader, grandchild = spawning_script(tmp_path)
        run = make_run(tmp_path)
        task = make_task(run, make_step("build", script, tmp=tmp_path, timeout_s=0.5))
        outcome = run_task(task, run, LocalExecutor(kill_grace_s=1))
        assert (outcome.status, outcome.reason) == ("failed", "step build timed out after 0.5s")
        assert_all_gone(leader, grandchild)

    def test_a_group_ignoring_sigterm_is_killed_after_the_grace(self, tmp_path: Path) -> None:
        script, leader, grandchild = spawning_script(tmp_path, trap_term=True)
        run = make_run(tmp_path)
        task = make_task(run, make_step("build", script, tmp=tmp_path, timeout_s=0.5))
        outcome = run_task(task, run, LocalExecutor(kill_grace_s=0.2))
        assert outcome.reason == "step build timed out after 0.5s"
        assert_all_gone(leader, grandchild)

    def test_a_timed_out_step_with_on_error_continue_lets_the_next_run(self, tmp_path: Path) -> None:
        run, marker = make_run(tmp_path), tmp_path / "ran"
        slow = make_step("slow", "sleep 100", tmp=tmp_path, timeout_s=0.2, on_error="continue")
        task = make_task(run, slow, make_step("after", f'touch "{marker}"', tmp=tmp_path))
        outcome = run_task(task, run, LocalExecutor(kill_grace_s=1))
        assert outcome.status == "succeeded" and marker.exists()
        assert outcome.steps[0].reason == "step slow timed out after 0.2s"


class TestTaskTimeout:
    def test_the_task_timeout_covers_all_steps_and_skips_the_rest(self, tmp_path: Path) -> None:
        run, marker = make_run(tmp_path), tmp_path / "ran"
        task = make_task(run, make_step("a", "sleep 0.1", tmp=tmp_path),
                         make_step("b", "sleep 100", tmp=tmp_path, timeout_s=50, on_error="continue"),
                         make_step("c", f'touch "{marker}"', tmp=tmp_path), timeout_s=0.5)
        outcome = run_task(task, run, LocalExecutor(kill_grace_s=1))
        assert (outcome.status, outcome.reason) == ("failed", "task t timed out after 0.5s")
        assert [s.reason for s in outcome.steps] == [None, "task t timed out after 0.5s", "skipped"]
        assert not marker.exists()

    def test_a_shorter_step_timeout_wins_over_the_task_timeout(self, tmp_path: Path) -> None:
        run = make_run(tmp_path)
        task = make_task(run, make_step("a", "sleep 100", tmp=tmp_path, timeout_s=0.2), timeout_s=30)
        assert run_task(task, run, LocalExecutor()).reason == "step a timed out after 0.2s"


class TestCancellation:
    def test_cancelling_execute_kills_the_whole_group_then_reraises(self, tmp_path: Path) -> None:
        script, leader, grandchild = spawning_script(tmp_path)
        run, ex, sink = make_run(tmp_path), LocalExecutor(kill_grace_s=1), RecordingSink()
        task = make_task(run, make_step("build", script, tmp=tmp_path))

        async def main() -> None:
            await ex.setup(run)
            attempt = asyncio.create_task(ex.execute(task, sink))
            await wait_for_file(grandchild)
            attempt.cancel()
            with pytest.raises(asyncio.CancelledError):
                await attempt

        asyncio.run(main())
        assert sink.steps["build"].closed
        assert_all_gone(leader, grandchild)

    def test_a_second_cancel_during_the_grace_kills_at_once(self, tmp_path: Path) -> None:
        script, leader, grandchild = spawning_script(tmp_path, trap_term=True)
        run, ex = make_run(tmp_path), LocalExecutor(kill_grace_s=60)
        task = make_task(run, make_step("build", script, tmp=tmp_path))

        async def main() -> float:
            await ex.setup(run)
            attempt = asyncio.create_task(ex.execute(task, RecordingSink()))
            await wait_for_file(grandchild)
            attempt.cancel()
            for _ in range(3):  # let the first cancellation send SIGTERM and enter its grace period
                await asyncio.sleep(0)
            began = time.monotonic()
            attempt.cancel()
            with pytest.raises(asyncio.CancelledError):
                await attempt
            return time.monotonic() - began

        assert asyncio.run(main()) < 30
        leader_pid = int(leader.read_text())
        assert process_gone(leader_pid)
        kill_quietly(int(grandchild.read_text()))


class TestLeftovers:
    def test_background_processes_left_by_a_finished_step_are_stopped(self, tmp_path: Path) -> None:
        grandchild = tmp_path / "grandchild.pid"
        run = make_run(tmp_path)
        script = f'sleep 1000 &\necho $! > "{grandchild}"\necho done'
        task = make_task(run, make_step("s", script, tmp=tmp_path, timeout_s=20))
        outcome = run_task(task, run, LocalExecutor(kill_grace_s=1))
        assert outcome.status == "succeeded", outcome.reason
        pid = int(grandchild.read_text())
        try:
            assert process_gone(pid)
        finally:
            kill_quietly(pid)

    def test_a_process_that_left_the_group_cannot_hold_the_step_open(self, tmp_path: Path) -> None:
        escaped = tmp_path / "escaped.pid"
        run, sink = make_run(tmp_path), RecordingSink()
        script = f'setsid sh -c \'echo $$ > "$1"; exec sleep 1000\' escaped "{escaped}" &\n'
        script += f'while [ ! -s "{escaped}" ]; do sleep 0.01; done\necho done'
        task = make_task(run, make_step("s", script, tmp=tmp_path, timeout_s=20))

        async def main() -> TaskOutcome:
            ex = LocalExecutor(drain_timeout_s=0.2)
            await ex.setup(run)
            return await ex.execute(task, sink)

        try:
            outcome = asyncio.run(main())
        finally:
            kill_quietly(int(escaped.read_text()))
        assert outcome.status == "succeeded", outcome.reason
        assert sink.text("s").startswith("done\n")
        assert "stopped reading output" in sink.text("s")
