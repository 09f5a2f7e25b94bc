"""A task's steps one after another, as every executor that runs them itself does (local, container).

Why a module of its own: the rules are the same wherever a step runs (a process here, a container): steps
run in order; a failing step skips the rest unless it says ``onError: continue``; a task time limit covers
all steps and a step's own limit only that step, the sooner winning; results are files in the attempt's
results directory, read once at the end. Written once, the executors differ only in how one step runs.

It must not know how a step is started, nor hold a log: ``run_step`` does that. (``write_file`` is here
because both write step scripts with it.)
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from wishstar.engine.executors.base import ResolvedStep, ResolvedTask, StepOutcome, TaskOutcome

RESULT_CAP = 1024 * 1024
"""Largest result file accepted; a larger one fails the task (results are meant for small values)."""


@dataclass(frozen=True)
class StepRun:
    """How one step went: its outcome, whether it failed, and whether the task's time limit stopped it."""

    outcome: StepOutcome
    failed: bool
    task_timed_out: bool = False


@dataclass(frozen=True)
class Deadline:
    """When a step must end (event-loop time), and whether that is the task's limit rather than its own."""

    at: float | None
    task_bound: bool

    def passed(self) -> bool:
        return self.at is not None and self.at <= asyncio.get_running_loop().time()


RunStep = Callable[[int, Deadline], Awaitable[StepRun]]
"""Runs step ``index`` of the task to its end within the deadline."""


async def run_in_order(task: ResolvedTask, run_step: RunStep) -> tuple[tuple[StepOutcome, ...], StepOutcome | None]:
    """Every step's outcome, and the one that failed the task (None: none did)."""
    loop = asyncio.get_running_loop()
    task_deadline = None if task.timeout_s is None else loop.time() + task.timeout_s
    steps: list[StepOutcome] = []
    failure: StepOutcome | None = None
    for index, step in enumerate(task.steps):
        if failure is not None:
            steps.append(StepOutcome(step.name, None, None, None, reason="skipped"))
            continue
        step_deadline = None if step.timeout_s is None else loop.time() + step.timeout_s
        task_bound = task_deadline is not None and (step_deadline is None or task_deadline <= step_deadline)
        ran = await run_step(index, Deadline(task_deadline if task_bound else step_deadline, task_bound))
        steps.append(ran.outcome)
        if ran.failed and (ran.task_timed_out or step.on_error != "continue"):
            failure = ran.outcome
    return tuple(steps), failure


def timed_out(task: ResolvedTask, step: ResolvedStep, deadline: Deadline, started: float, now: float) -> StepRun:
    if deadline.task_bound:
        reason = f"task {task.name} timed out after {task.timeout_s:g}s"
    else:
        reason = f"step {step.name} timed out after {step.timeout_s:g}s"
    return StepRun(StepOutcome(step.name, None, started, now, reason), True, deadline.task_bound)


def conclude(task: ResolvedTask, steps: tuple[StepOutcome, ...], failure: StepOutcome | None, *,
             results_dir: str, cap: int = RESULT_CAP) -> TaskOutcome:
    """The attempt's outcome: the failing step's, else a problem with the results, else success."""
    results, problem = read_results(task.results, results_dir, failed=failure is not None, cap=cap)
    if failure is not None:
        return TaskOutcome("failed", failure.exit_code, failure.reason, results, steps)
    if problem is not None:
        return TaskOutcome("failed", None, problem, results, steps)
    return TaskOutcome("succeeded", 0, None, results, steps)


def _component(name: str) -> str:
    """A task or step name as one safe path component (names are validated; paths must not rely on it)."""
    safe = name.replace("/", "%2F").replace("\0", "%00")
    return safe if safe not in ("", ".", "..") else f"%{safe}"


def read_results(names: tuple[str, ...], results_dir: str, *, failed: bool,
                 cap: int = RESULT_CAP) -> tuple[dict[str, str], str | None]:
    """Read the declared results of an attempt: (values, reason to fail or None). One trailing newline is
    dropped. A missing result is only a problem when the attempt otherwise succeeded."""
    results: dict[str, str] = {}
    for name in names:
        path = os.path.join(results_dir, _component(name))
        try:
            with open(path, "rb") as f:
                data = f.read(cap + 1)
        except FileNotFoundError:
            if failed:
                continue
            return results, f'result "{name}" was not written'
        except OSError as exc:
            return results, f'result "{name}" could not be read: {exc.strerror or exc}'
        if len(data) > cap:
            return results, f'result "{name}" is larger than the {_size(cap)} limit'
        try:
            text = data.decode()
        except UnicodeDecodeError:
            return results, f'result "{name}" is not UTF-8 text'
        results[name] = text[:-1] if text.endswith("\n") else text
    return results, None


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n} bytes"


def exit_reason(step: str, status: int) -> tuple[int, str | None]:
    """Exit code and reason from a ``subprocess`` status; death by signal N reads as 128+N, as in shells."""
    if status == 0:
        return 0, None
    if status > 0:
        return status, f"step {step} exited with {status}"
    try:
        name = signal.Signals(-status).name
    except ValueError:
        name = f"signal {-status}"
    return 128 - status, f"step {step} was killed by {name}"


def write_file(path: str, data: bytes, mode: int = 0o700) -> None:
    """Write ``data`` to ``path`` with ``mode`` (whatever the umask, or an earlier file, left) in one pass."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
