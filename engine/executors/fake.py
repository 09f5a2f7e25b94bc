"""The ``fake`` executor: scripted outcomes for scheduler and runner tests.

It exists so that tests of ordering, retries, concurrency limits, timeouts and cancellation can say
"attempt 1 of build fails with 2, attempt 2 succeeds; deploy runs until I let it go" without real processes
or sleeps, and then check what was started, in which order, and what was cancelled.

It must not start processes, touch the file system or read the clock on its own (both are injectable).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from wishstar.engine.executors.base import (
    Executor,
    LogSink,
    ResolvedTask,
    RunEnv,
    StepOutcome,
    TaskOutcome,
)
from wishstar.engine.status import AttemptStatus

EventKind = Literal["setup", "stop_leftovers", "start", "finish", "cancel", "teardown"]


@dataclass(frozen=True)
class FakeOutcome:
    """What one attempt of a task comes to. ``hold`` keeps the attempt running until the test sets it;
    ``duration_s`` is awaited through the executor's ``sleep`` (inject a fake one to avoid real waits);
    ``error`` is raised from ``execute`` instead of returning, to test how the runner copes."""

    status: AttemptStatus = "succeeded"
    exit_code: int | None = None
    results: Mapping[str, str] = field(default_factory=dict)
    reason: str | None = None
    hold: asyncio.Event | None = None
    duration_s: float = 0.0
    error: Exception | None = None

    def outcome(self, task: ResolvedTask, steps: tuple[StepOutcome, ...]) -> TaskOutcome:
        failed = self.status == "failed"
        exit_code = self.exit_code if self.exit_code is not None else (1 if failed else 0)
        reason = self.reason if self.reason is not None or not failed else f"task {task.name} failed"
        return TaskOutcome(self.status, exit_code, reason, dict(self.results), steps)


SUCCEED = FakeOutcome()
FAIL = FakeOutcome(status="failed", exit_code=1)


@dataclass(frozen=True)
class FakeEvent:
    kind: EventKind
    task: str | None = None
    attempt: int | None = None


class FakeExecutor(Executor):
    """Returns scripted outcomes: ``outcomes[task][i]`` for the task's (i+1)-th ``execute`` call; the last
    one repeats past the end of the list, and unlisted tasks get ``default``."""

    name = "fake"

    def __init__(
        self,
        outcomes: Mapping[str, Sequence[FakeOutcome]] | None = None,
        *,
        default: FakeOutcome = SUCCEED,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.outcomes = {name: list(seq) for name, seq in (outcomes or {}).items()}
        self.default = default
        self._clock = clock
        self._sleep = sleep
        self.calls: list[ResolvedTask] = []
        """Every ``execute`` call, in order."""
        self.events: list[FakeEvent] = []
        self.running: set[tuple[str, int]] = set()
        self.max_running = 0
        self._started: dict[str, asyncio.Event] = {}

    @property
    def started_order(self) -> list[str]:
        """Task names in the order their attempts started (a name repeats for retries)."""
        return [t.name for t in self.calls]

    @property
    def cancelled(self) -> list[str]:
        return [e.task for e in self.events if e.kind == "cancel" and e.task is not None]

    def started(self, task: str) -> asyncio.Event:
        """An event set when an attempt of ``task`` starts: ``await fake.started("build").wait()``."""
        return self._started.setdefault(task, asyncio.Event())

    def attempts(self, task: str) -> int:
        return sum(1 for t in self.calls if t.name == task)

    async def setup(self, run: RunEnv) -> None:
        self.events.append(FakeEvent("setup"))

    async def stop_leftovers(self, run: RunEnv) -> int:
        self.events.append(FakeEvent("stop_leftovers"))
        return 0

    async def teardown(self, run: RunEnv) -> None:
        self.events.append(FakeEvent("teardown"))

    async def execute(self, task: ResolvedTask, sink: LogSink) -> TaskOutcome:
        scripted = self._next(task.name)
        key = (task.name, task.attempt)
        self.calls.append(task)
        self.events.append(FakeEvent("start", task.name, task.attempt))
        self.running.add(key)
        self.max_running = max(self.max_running, len(self.running))
        self.started(task.name).set()
        try:
            started = self._clock()
            if scripted.hold is not None:
                await scripted.hold.wait()
            if scripted.duration_s:
                await self._sleep(scripted.duration_s)
            if scripted.error is not None:
                raise scripted.error
            steps = self._write_logs(task, sink, scripted, started)
        except asyncio.CancelledError:
            self.events.append(FakeEvent("cancel", task.name, task.attempt))
            raise
        finally:
            self.running.discard(key)
        self.events.append(FakeEvent("finish", task.name, task.attempt))
        return scripted.outcome(task, steps)

    def _next(self, task: str) -> FakeOutcome:
        scripted = self.outcomes.get(task)
        if not scripted:
            return self.default
        return scripted[min(self.attempts(task), len(scripted) - 1)]

    def _write_logs(self, task: ResolvedTask, sink: LogSink, scripted: FakeOutcome,
                    started: float) -> tuple[StepOutcome, ...]:
        """One log line per step; when the attempt fails, its last step is the one that failed."""
        steps: list[StepOutcome] = []
        for i, step in enumerate(task.steps):
            writer = sink.open_step(step.name)
            try:
                writer.write(f"fake: {task.name} attempt {task.attempt} step {step.name}\n".encode())
            finally:
                writer.close()
            failing = scripted.status == "failed" and i == len(task.steps) - 1
            code = (scripted.exit_code if scripted.exit_code is not None else 1) if failing else 0
            reason = scripted.reason if failing else None
            steps.append(StepOutcome(step.name, code, started, self._clock(), reason))
        return tuple(steps)
