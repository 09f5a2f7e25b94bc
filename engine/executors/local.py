"""The ``local`` executor: runs each step of a task attempt as a process group on this machine.

It exists so that a pipeline runs on a laptop or a plain CI box with the same plan, logs and results as on
Kubernetes. A step's script is written to a file under the run directory (named by its content, see
``ScriptFiles``) and executed from there; a
command runs as an argv. Each step gets exactly the environment the runner built, its own process group
(so timeouts and cancellation stop grandchildren too), /dev/null as stdin, and one pipe for stdout and
stderr whose chunks go straight to the log sink.

It must not: pass script text or any value through a shell command line (``sh -c``) or string
interpolation; inherit this process's environment; hold a whole log in memory; limit concurrency (the
runner does); pull or honour images (the runner says once that they are ignored locally).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import shutil
import signal
import time
from collections.abc import Callable

from wishstar.engine.executors import procs
from wishstar.engine.executors.base import (
    Executor,
    LogSink,
    LogWriter,
    ResolvedStep,
    ResolvedTask,
    RunEnv,
    StepOutcome,
    TaskOutcome,
)
from wishstar.engine.executors.sequence import (
    RESULT_CAP,
    Deadline,
    StepRun,
    conclude,
    exit_reason,
    run_in_order,
    timed_out,
    write_file,
)

KILL_GRACE_S = 2.0
"""Between SIGTERM and SIGKILL when a step times out or is cancelled."""

DRAIN_TIMEOUT_S = 1.0
"""How long to keep reading output after a step's group is gone (a daemon that left the group may hold it)."""

_SPAWN_RETRIES = 3
"""Spawning a just-written script can meet ETXTBSY when another thread forked while it was open."""


class LocalExecutor(Executor):
    """Runs task attempts as local processes; see ``engine.executors.base`` for the lifecycle."""

    name = "local"

    def __init__(
        self,
        *,
        kill_grace_s: float = KILL_GRACE_S,
        drain_timeout_s: float = DRAIN_TIMEOUT_S,
        result_cap: int = RESULT_CAP,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kill_grace_s = kill_grace_s
        self.drain_timeout_s = drain_timeout_s
        self.result_cap = result_cap
        self._clock = clock
        self._runs: dict[str, RunEnv] = {}
        self._scripts: dict[str, ScriptFiles] = {}

    async def setup(self, run: RunEnv) -> None:
        for workspace in run.workspaces:
            os.makedirs(self.workspace_path(run, workspace), exist_ok=True)
        self._runs[run.run_id] = run
        self._scripts.setdefault(run.run_id, ScriptFiles(run.run_dir))

    async def stop_leftovers(self, run: RunEnv) -> int:
        """Kill the step processes a dead engine left running for this run (they ran in sessions of their own
        and outlived it), found by the run's marker in their environment (``procs.leftovers``), and wait
        until they are gone: an interrupted attempt then never runs alongside the one that replaces it."""
        return await procs.stop_leftovers(run.run_id)

    async def teardown(self, run: RunEnv) -> None:
        """Remove the run's script files (they may embed parameter values); logs and results stay."""
        shutil.rmtree(os.path.join(run.run_dir, "scripts"), ignore_errors=True)
        self._runs.pop(run.run_id, None)
        self._scripts.pop(run.run_id, None)

    async def execute(self, task: ResolvedTask, sink: LogSink) -> TaskOutcome:
        run = self._runs.get(task.run_id)
        if run is None:
            raise RuntimeError(f"LocalExecutor: setup() was not called for run {task.run_id!r}")
        if task.results:  # only declared results have a $(results.NAME.path); skip two mkdirs otherwise
            os.makedirs(task.results_dir, exist_ok=True)
        scripts = self._scripts[task.run_id]

        async def run_step(index: int, deadline: Deadline) -> StepRun:
            return await self._run_step(task, task.steps[index], scripts, deadline, sink)

        steps, failure = await run_in_order(task, run_step)
        return conclude(task, steps, failure, results_dir=task.results_dir, cap=self.result_cap)

    async def _run_step(self, task: ResolvedTask, step: ResolvedStep, scripts: ScriptFiles, deadline: Deadline,
                        sink: LogSink) -> StepRun:
        writer = sink.open_step(step.name)
        started = self._clock()
        try:
            if deadline.passed():
                return timed_out(task, step, deadline, started, self._clock())
            try:
                argv = _argv(step, scripts)
                if not os.path.isdir(step.working_dir):
                    os.makedirs(step.working_dir, exist_ok=True)
                code, stopped = await self._spawn_and_wait(argv, step, deadline.at, writer)
            except _CannotStart as exc:
                writer.write(f"wishstar: {exc}\n".encode())
                return StepRun(StepOutcome(step.name, exc.exit_code, started, self._clock(), str(exc)), True)
            except OSError as exc:
                why = f"step {step.name} could not start: {exc.strerror or exc}"
                writer.write(f"wishstar: {why}\n".encode())
                return StepRun(StepOutcome(step.name, 126, started, self._clock(), why), True)
        finally:
            writer.close()
        if stopped:
            return timed_out(task, step, deadline, started, self._clock())
        exit_code, reason = exit_reason(step.name, code)
        return StepRun(StepOutcome(step.name, exit_code, started, self._clock(), reason), exit_code != 0)

    async def _spawn_and_wait(self, argv: list[str], step: ResolvedStep, deadline: float | None,
                              writer: LogWriter) -> tuple[int, bool]:
        """Run one process group to its end; return (exit status, timed out). Stops the group on cancel."""
        read_fd, write_fd = os.pipe()
        try:
            child = await _spawn(argv, step, write_fd)
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        pump = procs.OutputPump(read_fd, writer.write)
        try:
            timed_out = await procs.wait_by(child, deadline)
            await procs.stop_group(child, self.kill_grace_s)  # also whatever the step left in the background
            if not await pump.drain(self.drain_timeout_s):
                writer.write(b"\nwishstar: stopped reading output held open by a process outside the step\n")
        except asyncio.CancelledError:
            await procs.stop_group(child, self.kill_grace_s)
            raise
        finally:
            pump.close()
            child.close()
        if pump.error is not None:
            raise _CannotStart(f"step {step.name}: writing its log failed: {pump.error}", None)
        code = child.returncode
        return (code if code is not None else -signal.SIGKILL), timed_out


class _CannotStart(Exception):
    def __init__(self, message: str, exit_code: int | None) -> None:
        super().__init__(message)
        self.exit_code = exit_code


async def _spawn(argv: list[str], step: ResolvedStep, stdout: int) -> procs.Child:
    for attempt in range(_SPAWN_RETRIES + 1):
        try:
            return procs.spawn(argv, step.env, step.working_dir, stdout)
        except FileNotFoundError as exc:
            if exc.filename == step.working_dir:
                raise
            raise _CannotStart(f"step {step.name}: command not found: {argv[0]}", 127) from exc
        except PermissionError as exc:
            raise _CannotStart(f"step {step.name}: permission denied: {argv[0]}", 126) from exc
        except OSError as exc:
            if exc.errno != errno.ETXTBSY or attempt == _SPAWN_RETRIES:
                raise
            await asyncio.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


def _argv(step: ResolvedStep, scripts: ScriptFiles) -> list[str]:
    """The argv of a step; a script is written to a file first and never put on a command line."""
    if step.script is not None:
        path = scripts.path_for(step.script)
        # like Tekton, a script's args arrive as "$@"
        return [path, *step.args] if step.script.startswith("#!") else ["/bin/sh", "-e", path, *step.args]
    if step.command:
        return [*step.command, *step.args]
    raise _CannotStart(f"step {step.name} has neither a script nor a command to run locally", None)


class ScriptFiles:
    """A run's script files, named by content (``<run_dir>/scripts/<sha256 prefix>``) and written once each.

    Why by content rather than per task and attempt: on ext4 each new directory and file costs ~0.1 ms of
    CPU, as much as a third of spawning the step, and a run's tasks (matrix instances, retries) mostly share
    scripts. A file, once written, is never rewritten, so no exec can meet a half-written script."""

    def __init__(self, run_dir: str) -> None:
        self.directory = os.path.join(run_dir, "scripts")
        self._written: set[str] = set()

    def path_for(self, script: str) -> str:
        data = script.encode()
        path = os.path.join(self.directory, hashlib.sha256(data).hexdigest()[:32])
        if path not in self._written:
            os.makedirs(self.directory, exist_ok=True)
            write_file(path, data)
            self._written.add(path)
        return path
