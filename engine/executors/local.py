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
from dataclasses import dataclass

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

KILL_GRACE_S = 2.0
"""Between SIGTERM and SIGKILL when a step times out or is cancelled."""

DRAIN_TIMEOUT_S = 1.0
"""How long to keep reading output after a step's group is gone (a daemon that left the group may hold it)."""

RESULT_CAP = 1024 * 1024
"""Largest result file accepted; a larger one fails the task (results are meant for small values)."""

_SPAWN_RETRIES = 3
"""Spawning a just-written script can meet ETXTBSY when another thread forked while it was open."""


@dataclass(frozen=True)
class _StepRun:
    outcome: StepOutcome
    failed: bool
    task_timed_out: bool = False


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
        loop = asyncio.get_running_loop()
        deadline = None if task.timeout_s is None else loop.time() + task.timeout_s
        scripts = self._scripts[task.run_id]
        steps: list[StepOutcome] = []
        failure: StepOutcome | None = None
        for step in task.steps:
            if failure is not None:
                steps.append(StepOutcome(step.name, None, None, None, reason="skipped"))
                continue
            ran = await self._run_step(task, step, scripts, deadline, sink)
            steps.append(ran.outcome)
            if ran.failed and (ran.task_timed_out or step.on_error != "continue"):
                failure = ran.outcome
        return self._conclude(task, tuple(steps), failure)

    def _conclude(self, task: ResolvedTask, steps: tuple[StepOutcome, ...],
                  failure: StepOutcome | None) -> TaskOutcome:
        results, problem = read_results(task, failed=failure is not None, cap=self.result_cap)
        if failure is not None:
            return TaskOutcome("failed", failure.exit_code, failure.reason, results, steps)
        if problem is not None:
            return TaskOutcome("failed", None, problem, results, steps)
        return TaskOutcome("succeeded", 0, None, results, steps)

    async def _run_step(self, task: ResolvedTask, step: ResolvedStep, scripts: ScriptFiles,
                        task_deadline: float | None, sink: LogSink) -> _StepRun:
        loop = asyncio.get_running_loop()
        step_deadline = None if step.timeout_s is None else loop.time() + step.timeout_s
        task_bound = task_deadline is not None and (step_deadline is None or task_deadline <= step_deadline)
        deadline = task_deadline if task_bound else step_deadline
        writer = sink.open_step(step.name)
        started = self._clock()
        try:
            if deadline is not None and deadline <= loop.time():
                return self._timed_out(task, step, task_bound, started)
            try:
                argv = _argv(step, scripts)
                if not os.path.isdir(step.working_dir):
                    os.makedirs(step.working_dir, exist_ok=True)
                code, timed_out = await self._spawn_and_wait(argv, step, deadline, writer)
            except _CannotStart as exc:
                writer.write(f"wishstar: {exc}\n".encode())
                return _StepRun(StepOutcome(step.name, exc.exit_code, started, self._clock(), str(exc)), True)
            except OSError as exc:
                why = f"step {step.name} could not start: {exc.strerror or exc}"
                writer.write(f"wishstar: {why}\n".encode())
                return _StepRun(StepOutcome(step.name, 126, started, self._clock(), why), True)
        finally:
            writer.close()
        if timed_out:
            return self._timed_out(task, step, task_bound, started)
        exit_code, reason = _exit_reason(step.name, code)
        outcome = StepOutcome(step.name, exit_code, started, self._clock(), reason)
        return _StepRun(outcome, exit_code != 0)

    def _timed_out(self, task: ResolvedTask, step: ResolvedStep, task_bound: bool,
                   started: float) -> _StepRun:
        if task_bound:
            reason = f"task {task.name} timed out after {task.timeout_s:g}s"
        else:
            reason = f"step {step.name} timed out after {step.timeout_s:g}s"
        return _StepRun(StepOutcome(step.name, None, started, self._clock(), reason), True, task_bound)

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
            timed_out = False
            try:
                async with asyncio.timeout_at(deadline):
                    await child.wait()
            except TimeoutError:
                timed_out = True
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


def write_file(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0700 in one pass."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o700)
    try:
        os.fchmod(fd, 0o700)  # whatever the umask, or an earlier file, left
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _exit_reason(step: str, status: int) -> tuple[int, str | None]:
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


def _component(name: str) -> str:
    """A task or step name as one safe path component (names are validated; paths must not rely on it)."""
    safe = name.replace("/", "%2F").replace("\0", "%00")
    return safe if safe not in ("", ".", "..") else f"%{safe}"


def read_results(task: ResolvedTask, *, failed: bool,
                 cap: int = RESULT_CAP) -> tuple[dict[str, str], str | None]:
    """Read the declared results of an attempt: (values, reason to fail or None). One trailing newline is
    dropped. A missing result is only a problem when the attempt otherwise succeeded."""
    results: dict[str, str] = {}
    for name in task.results:
        path = os.path.join(task.results_dir, _component(name))
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
