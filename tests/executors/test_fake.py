"""The fake executor plays scripted outcomes and records what the runner asked of it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.executors.support import RecordingSink, make_run, make_step, make_task
from wishstar.engine.executors.base import ResolvedTask, TaskOutcome
from wishstar.engine.executors.fake import FAIL, FakeEvent, FakeExecutor, FakeOutcome

RUN = make_run(Path("/nonexistent"))


def task(name: str, attempt: int = 1, steps: tuple[str, ...] = ("s",)) -> ResolvedTask:
    return make_task(RUN, *(make_step(s) for s in steps), name=name, attempt=attempt)


class TestScriptedOutcomes:
    def test_outcomes_follow_the_attempts_and_the_last_one_repeats(self) -> None:
        fake = FakeExecutor({"build": [FAIL, FakeOutcome(results={"v": "1"})]})

        async def main() -> list[TaskOutcome]:
            return [await fake.execute(task("build", i), RecordingSink()) for i in (1, 2, 3)]

        first, second, third = asyncio.run(main())
        assert (first.status, first.exit_code, first.reason) == ("failed", 1, "task build failed")
        assert (second.status, second.results) == ("succeeded", {"v": "1"})
        assert (third.status, third.results) == ("succeeded", {"v": "1"})
        assert fake.attempts("build") == 3

    def test_unlisted_tasks_get_the_default(self) -> None:
        fake = FakeExecutor(default=FakeOutcome(status="failed", exit_code=9, reason="nope"))
        outcome = asyncio.run(fake.execute(task("other"), RecordingSink()))
        assert (outcome.status, outcome.exit_code, outcome.reason) == ("failed", 9, "nope")

    def test_a_scripted_error_is_raised_from_execute(self) -> None:
        fake = FakeExecutor({"x": [FakeOutcome(error=OSError("disk full"))]})
        with pytest.raises(OSError, match="disk full"):
            asyncio.run(fake.execute(task("x"), RecordingSink()))

    def test_duration_goes_through_the_injected_sleep(self) -> None:
        slept: list[float] = []

        async def fake_sleep(seconds: float) -> None:
            slept.append(seconds)

        fake = FakeExecutor({"x": [FakeOutcome(duration_s=30)]}, sleep=fake_sleep)
        asyncio.run(fake.execute(task("x"), RecordingSink()))
        assert slept == [30]


class TestLogs:
    def test_each_step_gets_one_log_line_and_a_failure_names_the_last_step(self) -> None:
        sink = RecordingSink()
        fake = FakeExecutor({"t": [FakeOutcome(status="failed", exit_code=2, reason="step b exited with 2")]})
        outcome = asyncio.run(fake.execute(task("t", steps=("a", "b")), sink))
        assert sink.text("a") == "fake: t attempt 1 step a\n"
        assert all(w.closed for w in sink.steps.values())
        assert [(s.name, s.exit_code) for s in outcome.steps] == [("a", 0), ("b", 2)]


class TestRecording:
    def test_held_tasks_keep_running_until_released_and_concurrency_is_measured(self) -> None:
        gate = asyncio.Event()
        fake = FakeExecutor({"a": [FakeOutcome(hold=gate)], "b": [FakeOutcome(hold=gate)]})

        async def main() -> None:
            both = asyncio.gather(*(fake.execute(task(n), RecordingSink()) for n in ("a", "b")))
            await fake.started("b").wait()
            assert fake.running == {("a", 1), ("b", 1)}
            gate.set()
            await both

        asyncio.run(main())
        assert fake.started_order == ["a", "b"]
        assert fake.max_running == 2 and not fake.running

    def test_cancellation_is_recorded_and_reraised(self) -> None:
        fake = FakeExecutor({"a": [FakeOutcome(hold=asyncio.Event())]})

        async def main() -> None:
            attempt = asyncio.create_task(fake.execute(task("a"), RecordingSink()))
            await fake.started("a").wait()
            attempt.cancel()
            with pytest.raises(asyncio.CancelledError):
                await attempt

        asyncio.run(main())
        assert fake.cancelled == ["a"]
        assert fake.events == [FakeEvent("start", "a", 1), FakeEvent("cancel", "a", 1)]

    def test_setup_and_teardown_are_recorded(self) -> None:
        fake = FakeExecutor()

        async def main() -> None:
            await fake.setup(RUN)
            await fake.execute(task("a"), RecordingSink())
            await fake.teardown(RUN)
            await fake.teardown(RUN)

        asyncio.run(main())
        assert [e.kind for e in fake.events] == ["setup", "start", "finish", "teardown", "teardown"]
