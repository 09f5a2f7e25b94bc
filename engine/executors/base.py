"""The executor contract: how the runner hands a task to something that runs it.

Lifecycle, in order, for one run:

1. ``setup(run)`` once, before any task: create workspaces and per-run resources. Safe to repeat. A run
   resumed after its engine died then gets ``stop_leftovers(run)``, before any attempt starts.
2. ``execute(task, sink)`` once per task attempt. The runner may have up to the concurrency limit of
   ``execute`` calls in flight at once, for different tasks; never two for the same task attempt.
   It returns a ``TaskOutcome``; a task that fails returns ``status="failed"``, it does not raise.
   When the runner cancels the coroutine (``asyncio.CancelledError``: Ctrl-C, ``runs cancel``, a task or
   pipeline timeout, fail-fast with ``onFailure: cancel``), the executor must stop everything the attempt
   started (the whole process group locally, the Pod on Kubernetes) before re-raising.
3. ``teardown(run)`` once at the end, also after errors and cancellation. Idempotent.

Beyond one run's lifecycle, with no-op defaults for an executor that has nothing to do: ``detachable`` (its
attempts outlive this process, as Pods do, so a process that gives a run up calls ``detach(reason)`` instead
of cancelling them, and the next owner re-attaches), ``close()`` (release clients), and ``RunObjects`` (find
and delete what a run left on the platform, without building an executor for it).

Logs: each step's output goes to ``sink.open_step(name)`` as produced, in chunks; the sink masks secrets and
caps size, so executors never hold a whole log in memory. Results: the executor reads the files the steps
wrote under ``task.results_dir`` and returns them in the outcome.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from wishstar.engine.compiler.types import AttemptPaths, ResolvedStep, ResolvedTask, TaskPlan
from wishstar.engine.status import AttemptStatus

__all__ = ["AttemptStatus", "ResolvedStep", "ResolvedTask"]


@dataclass(frozen=True)
class StepOutcome:
    name: str
    exit_code: int | None
    started_at: float | None
    finished_at: float | None
    reason: str | None = None


@dataclass(frozen=True)
class TaskOutcome:
    """What an attempt came to. ``reason`` is shown to the user (already free of secret values)."""

    status: AttemptStatus
    exit_code: int | None = None
    reason: str | None = None
    results: Mapping[str, str] = field(default_factory=dict)
    steps: tuple[StepOutcome, ...] = ()


@dataclass(frozen=True)
class RunEnv:
    """Where a run lives: its id, the checkout (working copy) and the directory for workspaces and results."""

    run_id: str
    run_dir: str
    checkout_dir: str | None
    workspaces: tuple[str, ...] = ()


class LogWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class LogSink(Protocol):
    """Where a task attempt's step logs go; the runner provides one per attempt."""

    def open_step(self, step: str) -> LogWriter: ...


class Executor(abc.ABC):
    """Runs task attempts; see the module docstring for the lifecycle and concurrency rules."""

    name: str = "abstract"
    detachable: bool = False
    """The attempts outlive this process (Pods): giving a run up is ``detach``, not a cancellation."""

    @abc.abstractmethod
    async def setup(self, run: RunEnv) -> None:
        """Prepare per-run resources. Safe to call twice."""

    @abc.abstractmethod
    async def execute(self, task: ResolvedTask, sink: LogSink) -> TaskOutcome:
        """Run one attempt to the end; on cancellation stop all it started, then re-raise."""

    @abc.abstractmethod
    async def teardown(self, run: RunEnv) -> None:
        """Release per-run resources. Idempotent."""

    async def stop_leftovers(self, run: RunEnv) -> int:
        """The run continues from stored task states because the engine that drove it died (a takeover): stop
        whatever that engine's attempts left running where this executor can reach, before any attempt starts
        again; returns how many processes were stopped. Called after ``setup``. Default: nothing (the
        Kubernetes executor re-attaches to the Pods instead)."""
        return 0

    async def provide_secrets(self, run: RunEnv, wanted: Mapping[str, frozenset[str]]
                              ) -> Mapping[str, tuple[str, ...]]:
        """Secrets the run was not given that this executor's platform holds itself (Kubernetes Secrets of the
        namespace), called after ``setup``. ``wanted``: secret name -> the keys the steps read. Returns secret
        name -> the values of those keys, for masking only: steps get them from the platform, never through
        the runner. Raises ``WishstarError`` naming every one that is missing. Default: none (the local
        executor has no secret store of its own; the runner then fails the tasks that need them)."""
        return {}

    def waiting_reason(self, task: ResolvedTask | str, run_id: str | None = None) -> str | None:
        """Why a started attempt is not running yet (unschedulable, image pull back-off, PVC not bound...), or
        None. The runner shows it as the task's reason while it lasts. Cheap: no I/O (the executor keeps it
        from what it watches)."""
        return None

    def detach(self, reason: str) -> None:
        """Give the run up without stopping its attempts (``detachable`` executors): teardown then deletes
        nothing, and the attempts still running end at once with ``reason`` so another process re-attaches.
        Default: nothing to leave behind."""
        return None

    def close(self) -> None:
        """Release clients and watches (a later ``setup`` starts new ones). Default: nothing to release."""
        return None

    def workspace_path(self, run: RunEnv, workspace: str) -> str:
        """Where ``$(workspaces.NAME.path)`` points for this executor."""
        return f"{run.run_dir}/workspaces/{workspace}"

    def results_dir(self, run: RunEnv, task: str, attempt: int) -> str:
        """Directory whose files are a task attempt's results (``$(results.NAME.path)``)."""
        return f"{run.run_dir}/results/{task}/{attempt}"

    def reference_paths(self, run: RunEnv, task: TaskPlan, attempt: int) -> AttemptPaths:
        """What ``$(workspaces.NAME.path)``, ``$(results.NAME.path)`` and ``$(context.taskRun.namespace)`` mean
        in one attempt (the runner resolves references with it). Default: ``workspace_path`` of each bound
        pipeline workspace, ``results_dir``, namespace "local"."""
        return AttemptPaths(workspaces={b.name: self.workspace_path(run, b.pipeline_workspace)
                                        for b in task.workspaces},
                            results_dir=self.results_dir(run, task.name, attempt))


class Delegating(Executor):
    """An executor that hands every call of the contract to ``inner``: the base of wrappers that change one or
    two calls (the server's ``Guarded``), so a method added to the contract reaches the inner executor without
    each wrapper having to forward it."""

    name = "delegating"

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.detachable = inner.detachable

    async def setup(self, run: RunEnv) -> None:
        await self.inner.setup(run)

    async def execute(self, task: ResolvedTask, sink: LogSink) -> TaskOutcome:
        return await self.inner.execute(task, sink)

    async def teardown(self, run: RunEnv) -> None:
        await self.inner.teardown(run)

    async def stop_leftovers(self, run: RunEnv) -> int:
        return await self.inner.stop_leftovers(run)

    async def provide_secrets(self, run: RunEnv, wanted: Mapping[str, frozenset[str]]
                              ) -> Mapping[str, tuple[str, ...]]:
        return await self.inner.provide_secrets(run, wanted)

    def waiting_reason(self, task: ResolvedTask | str, run_id: str | None = None) -> str | None:
        return self.inner.waiting_reason(task, run_id)

    def detach(self, reason: str) -> None:
        self.inner.detach(reason)

    def close(self) -> None:
        self.inner.close()

    def workspace_path(self, run: RunEnv, workspace: str) -> str:
        return self.inner.workspace_path(run, workspace)

    def results_dir(self, run: RunEnv, task: str, attempt: int) -> str:
        return self.inner.results_dir(run, task, attempt)

    def reference_paths(self, run: RunEnv, task: TaskPlan, attempt: int) -> AttemptPaths:
        return self.inner.reference_paths(run, task, attempt)


class RunObjects(abc.ABC):
    """What a run left on its platform (Pods, claims, ConfigMaps), found and deleted by run id: for
    ``runs delete``, ``runs prune`` and cancelling an orphaned run, which have no plan to build an executor."""

    @abc.abstractmethod
    async def delete(self, run_id: str) -> bool:
        """Delete the run's objects; False when there were none."""


class NoRunObjects(RunObjects):
    """The local executor's runs leave nothing outside their run directory."""

    async def delete(self, run_id: str) -> bool:
        return False
