"""The container executor: each step of a task attempt runs in its own image, with podman or docker.

It exists so that a pipeline runs on a laptop the way it runs on Kubernetes (Tekton's semantics: every step
has an image; the task's workspaces are shared directories), with the local executor's logs and results.
A step is one ``run --rm`` of the CLI, attached: its output comes back through the CLI's stdout and stderr,
one pipe, in chunks, into the log sink (``engine.executors.procs.OutputPump``); its exit code is the CLI's.
Results are files the steps write under /wishstar/results, a bind mount of the attempt's results directory,
read back like the local executor's. Scripts are files under a read-only mount, never a shell string; the
step's variables never reach argv (``argv``). Every container is named by Wishstar (``argv.container_name``)
and labelled with the run, so a timeout or a cancellation removes it by name, and teardown and a takeover
(``stop_leftovers``) remove whatever the run left.

It must not: pass script text or a variable's value on a command line, inherit this process's environment
into a step, hold a whole log in memory, limit concurrency (the runner does), or leave a container behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from wishstar.engine.compiler.entrypoint import RESULTS_DIR, SCRIPTS_DIR
from wishstar.engine.compiler.pods import mount_path
from wishstar.engine.compiler.types import AttemptPaths, TaskPlan
from wishstar.engine.executors import procs
from wishstar.engine.executors.base import (
    Executor,
    LogSink,
    LogWriter,
    ResolvedTask,
    RunEnv,
    StepOutcome,
    TaskOutcome,
)
from wishstar.engine.executors.container import argv as av
from wishstar.engine.executors.container.runtime import PULL_TIMEOUT_S, Runtime, last_line
from wishstar.engine.executors.sequence import Deadline, StepRun, conclude, run_in_order, timed_out, write_file

KILL_GRACE_S = 2.0
"""Between SIGTERM and SIGKILL when a step's container is stopped for a timeout."""
DRAIN_TIMEOUT_S = 1.0


@dataclass
class _Run:
    env: RunEnv
    scripts: str
    secrets_dir: str
    checkout_root: str | None


class ContainerExecutor(Executor):
    """Runs task attempts as containers; see ``engine.executors.base`` for the lifecycle."""

    def __init__(self, runtime: Runtime, *, default_image: str, network: str | None = "host",
                 users: Mapping[str, str] | None = None, kill_grace_s: float = KILL_GRACE_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.runtime = runtime
        self.name = runtime.kind
        self.default_image = default_image
        self.network = network
        self.users = dict(users or {})
        """Task name -> ``uid[:gid]`` from its ``kubernetes`` security context (``runAsUser``/``runAsGroup``)."""
        self.kill_grace_s = kill_grace_s
        self._clock = clock
        self._runs: dict[str, _Run] = {}
        self._present: set[str] = set()
        self._pulls: dict[str, asyncio.Lock] = {}

    # -- lifecycle -------------------------------------------------------------------------------------

    async def setup(self, run: RunEnv) -> None:
        for workspace in run.workspaces:
            os.makedirs(self.workspace_path(run, workspace), exist_ok=True)
        if run.run_id not in self._runs:
            scripts = os.path.join(run.run_dir, "container-scripts")
            os.makedirs(scripts, mode=0o755, exist_ok=True)  # mounted into every step, scripts or not
            self._runs[run.run_id] = _Run(run, scripts, tempfile.mkdtemp(prefix="wishstar-env-"), _checkout_root(run))

    async def teardown(self, run: RunEnv) -> None:
        """Remove every container the run left (none, normally), its script files and its env files."""
        await self.stop_leftovers(run)
        state = self._runs.pop(run.run_id, None)
        if state is not None:
            shutil.rmtree(state.scripts, ignore_errors=True)
            shutil.rmtree(state.secrets_dir, ignore_errors=True)

    async def stop_leftovers(self, run: RunEnv) -> int:
        """Remove the containers labelled with the run (a dead engine's steps keep running under conmon or
        dockerd); returns how many there were."""
        names = await self.runtime.labelled(f"{av.LABEL_RUN}={run.run_id}")
        for name in names:
            await self.runtime.call(*self.runtime.remove_args(name))
        return len(names)

    def reference_paths(self, run: RunEnv, task: TaskPlan, attempt: int) -> AttemptPaths:
        """Paths as the step containers see them: workspaces at Tekton's /workspace/<name> (or their
        ``mountPath``), results under /wishstar/results."""
        return AttemptPaths(workspaces={b.name: mount_path(b) for b in task.workspaces}, results_dir=RESULTS_DIR)

    # -- one attempt -------------------------------------------------------------------------------------

    async def execute(self, task: ResolvedTask, sink: LogSink) -> TaskOutcome:
        state = self._runs.get(task.run_id)
        if state is None:
            raise RuntimeError(f"ContainerExecutor: setup() was not called for run {task.run_id!r}")
        results_host = self.results_dir(state.env, task.name, task.attempt)
        os.makedirs(results_host, exist_ok=True)
        os.chmod(results_host, 0o777)  # a step whose image runs as another user still writes its results

        async def run_step(index: int, deadline: Deadline) -> StepRun:
            return await self._run_step(state, task, index, results_host, deadline, sink)

        steps, failure = await run_in_order(task, run_step)
        return conclude(task, steps, failure, results_dir=results_host)

    async def _run_step(self, state: _Run, task: ResolvedTask, index: int, results_host: str, deadline: Deadline,
                        sink: LogSink) -> StepRun:
        step = task.steps[index]
        writer = sink.open_step(step.name)
        started = self._clock()
        image = step.image or self.default_image
        try:
            problem = await self._ensure_image(image, step.name)
            if problem is not None:
                writer.write(f"wishstar: {problem}\n".encode())
                return StepRun(StepOutcome(step.name, None, started, self._clock(), problem), True)
            if deadline.passed():
                return timed_out(task, step, deadline, started, self._clock())
            try:
                code, stopped = await self._container(state, task, index, image, results_host, deadline.at, writer)
            except av.StepEnvError as exc:
                why = f"step {step.name}: {exc}"
                writer.write(f"wishstar: {why}\n".encode())
                return StepRun(StepOutcome(step.name, None, started, self._clock(), why), True)
        finally:
            writer.close()
        if stopped:
            return timed_out(task, step, deadline, started, self._clock())
        exit_code, reason = self._exit_reason(step.name, image, code)
        return StepRun(StepOutcome(step.name, exit_code, started, self._clock(), reason), exit_code != 0)

    def _exit_reason(self, step: str, image: str, status: int) -> tuple[int, str | None]:
        """Exit code and reason; the CLI's own failures (125) and a missing or unrunnable command (127, 126)
        say so, death by signal N reads as 128+N, as in shells and container runtimes."""
        if status < 0:
            try:
                name = signal.Signals(-status).name
            except ValueError:
                name = f"signal {-status}"
            return 128 - status, f"step {step}: the {self.name} client was killed by {name}"
        if status == 0:
            return 0, None
        if status == 125:
            return status, (f"step {step}: {self.name} could not run the container of image {image} (exit 125; "
                            "its message is in the step's log)")
        if status in (126, 127):
            what = "was not found" if status == 127 else "could not be executed"
            return status, f"step {step} exited with {status} (in image {image}: a command {what}?)"
        return status, f"step {step} exited with {status}"

    # -- images ------------------------------------------------------------------------------------------

    async def _ensure_image(self, image: str, step: str) -> str | None:
        """Pull ``image`` unless it is here (once per image at a time); the problem, naming the step, or None."""
        if image in self._present:
            return None
        lock = self._pulls.setdefault(image, asyncio.Lock())
        async with lock:
            if image in self._present:
                return None
            code, _ = await self.runtime.call(*self.runtime.exists_args(image))
            if code != 0:
                code, out = await self.runtime.call(*self.runtime.pull_args(image), timeout_s=PULL_TIMEOUT_S)
                if code != 0:
                    return _pull_problem(self.runtime, image, step, out, code)
            self._present.add(image)
        return None

    # -- one container -----------------------------------------------------------------------------------

    async def _container(self, state: _Run, task: ResolvedTask, index: int, image: str, results_host: str,
                         deadline: float | None, writer: LogWriter) -> tuple[int, bool]:
        """Run one step's container to its end: (exit status, timed out). Removes it on timeout and cancel."""
        step = task.steps[index]
        name = av.container_name(task.run_id, task.name, task.attempt, index)
        lines, through_client = av.split_env(step.env)
        env_file = os.path.join(state.secrets_dir, f"{name}.env")
        write_file(env_file, "".join(f"{line}\n" for line in lines).encode(), 0o600)
        try:
            spec = self._spec(state, task, index, image, results_host, name, env_file, tuple(through_client))
            argv = [self.runtime.binary, *av.run_argv(self.runtime.kind, spec)]
            read_fd, write_fd = os.pipe()
            try:
                child = procs.spawn(argv, {**self.runtime.env, **through_client}, "/", write_fd)
            except BaseException:
                os.close(read_fd)
                raise
            finally:
                os.close(write_fd)
            return await self._wait(child, read_fd, name, deadline, writer)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(env_file)

    async def _wait(self, child: procs.Child, read_fd: int, name: str, deadline: float | None,
                    writer: LogWriter) -> tuple[int, bool]:
        pump = procs.OutputPump(read_fd, writer.write)
        done = False
        try:
            timed_out = await procs.wait_by(child, deadline)
            if timed_out:
                await self._stop(name, child, self.kill_grace_s)
            await procs.stop_group(child, self.kill_grace_s)
            if not await pump.drain(DRAIN_TIMEOUT_S):
                writer.write(b"\nwishstar: stopped reading output held open by a process outside the step\n")
            done = True
        except asyncio.CancelledError:
            await _to_the_end(self._stop(name, child, 0.0))  # a second cancel must not cut the cleanup short
            done = True
            raise
        finally:
            if not done:  # cancelled again while stopping: no more awaiting, but nothing left running
                procs.kill_now(child)
                self.runtime.call_now(*self.runtime.remove_args(name))
            pump.close()
            child.close()
        code = child.returncode
        return (code if code is not None else -signal.SIGKILL), timed_out

    async def _stop(self, name: str, child: procs.Child, grace_s: float) -> None:
        """Stop the container (SIGTERM, SIGKILL after ``grace_s``; at once without one), remove it, stop the
        CLI, and remove it again: a container the CLI was still creating when the first removal came is
        gone too."""
        if grace_s > 0:
            await self.runtime.call("stop", "--time", str(math.ceil(grace_s)), name)
        else:
            await self.runtime.call("kill", name)
        await self.runtime.call(*self.runtime.remove_args(name))
        await procs.stop_group(child, self.kill_grace_s)
        await self.runtime.call(*self.runtime.remove_args(name))

    def _spec(self, state: _Run, task: ResolvedTask, index: int, image: str, results_host: str, name: str,
              env_file: str, client_names: tuple[str, ...]) -> av.StepContainer:
        step = task.steps[index]
        script_path = None
        if step.script is not None:
            script_path = _script_file(state.scripts, step.script)
        entrypoint, args = av.command_of(
            None if script_path is None else f"{SCRIPTS_DIR}/{os.path.basename(script_path)}",
            bool(step.script and step.script.startswith("#!")), step.command, step.args)
        mounts = [av.scripts_mount(state.scripts), av.results_mount(results_host)]
        if state.checkout_root is not None:
            mounts.append(av.Mount(state.checkout_root, av.CHECKOUT_DIR))
        for binding in task.workspaces:
            mounts.append(av.Mount(self.workspace_path(state.env, binding.pipeline_workspace), mount_path(binding),
                                   binding.read_only))
        workdir = av.in_container(step.working_dir, state.checkout_root)
        if workdir is not None:
            _make_mounted_dir(workdir, mounts)
        return av.StepContainer(name=name, image=image, entrypoint=entrypoint, args=args, workdir=workdir,
                                mounts=tuple(mounts), labels=av.labels(task.run_id, task.name, task.attempt),
                                user=self.users.get(task.name), network=self.network, env_file=env_file,
                                client_env_names=client_names, stop_timeout_s=math.ceil(self.kill_grace_s))


def _make_mounted_dir(path: str, mounts: list[av.Mount]) -> None:
    """Create a working directory that lies in a mount on its host side, as the local executor does
    (podman refuses a ``--workdir`` the container does not have)."""
    for m in mounts:
        if not m.read_only and (path == m.path or path.startswith(m.path.rstrip("/") + "/")):
            os.makedirs(os.path.join(m.host, os.path.relpath(path, m.path)), exist_ok=True)
            return


async def _to_the_end(cleanup: Coroutine[Any, Any, None]) -> None:
    """Run ``cleanup`` to its end even when the caller is cancelled again meanwhile (the runner may cancel a
    task more than once); a cancellation during it is swallowed, the caller re-raises its own."""
    task = asyncio.ensure_future(cleanup)
    while not task.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)
    task.result()


def _checkout_root(run: RunEnv) -> str | None:
    """The checkout's top directory (the project may be a subdirectory of it), mounted whole."""
    if run.checkout_dir is None:
        return None
    rel = os.path.relpath(run.checkout_dir, run.run_dir)
    if rel.startswith(".."):
        return run.checkout_dir
    return os.path.join(run.run_dir, rel.split(os.sep, 1)[0]) if rel != "." else run.checkout_dir


def _script_file(directory: str, script: str) -> str:
    """A script as a file named by its content, readable and executable by any container user."""
    data = script.encode()
    path = os.path.join(directory, hashlib.sha256(data).hexdigest()[:32])
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        write_file(tmp, data, 0o555)
        os.replace(tmp, path)  # a concurrent task never sees a half-written script
    return path


def _pull_problem(runtime: Runtime, image: str, step: str, out: str, code: int) -> str:
    said = last_line(out) or f"exit code {code}"
    hint = "check the image name and that its registry can be reached"
    if "http response to https client" in out.lower() or "server gave http response" in out.lower():
        hint = ("the registry speaks plain http: add it to WISHSTAR_CONTAINER_INSECURE_REGISTRIES"
                if runtime.kind == "podman" else "the registry speaks plain http: add it to dockerd's "
                                                 "--insecure-registry")
    return f"step {step}: cannot pull image {image}: {said} (hint: {hint})"
