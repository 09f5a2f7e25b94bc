"""The thin loop that drives one run: ask the scheduler what to do, do it through the executor, record it.

All decisions are in ``engine.scheduler``; this module only applies them, feeds executor outcomes back, keeps
the store up to date (batched: at most one write per ``flush_interval`` while tasks run, always at the end)
and notices cancellation (a signal, or ``runs cancel`` setting a flag in the store). It owns the clock.
It must not decide anything the scheduler could decide, nor hold a whole log in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from wishstar.engine.compiler.placement import result_source
from wishstar.engine.compiler.resolve import MissingSecret, RuntimeView, resolve_task, secret_refs
from wishstar.engine.compiler.types import Plan, ResultRef, RunContext
from wishstar.engine.executors.base import Executor, RunEnv, TaskOutcome
from wishstar.engine.resume import merged_exit_codes
from wishstar.engine.scheduler.decide import Cancel, Finish, Start, decide, finished, initial_state, request_cancel
from wishstar.engine.scheduler.members import member_states
from wishstar.engine.scheduler.outcome import aggregate_status
from wishstar.engine.scheduler.state import RunState, TaskState
from wishstar.engine.spec.errors import WishstarError
from wishstar.engine.store.api import StepRow, Store, TaskRow
from wishstar.engine.store.logs import LogStore, Masker, TaskLogSink

Progress = Callable[["Snapshot"], None]


class CancelSource(Protocol):
    def cancel_requested(self, run_id: str) -> bool: ...


@dataclass(frozen=True)
class Snapshot:
    """What a live view shows: the state, the tail of each running task's log, notices."""

    state: RunState
    tails: Mapping[str, list[str]]
    now: float


@dataclass
class RunOptions:
    concurrency: int = field(default_factory=lambda: os.cpu_count() or 2)
    flush_interval: float = 0.1
    flush_each_end: bool = False
    """Write an attempt's end to the store as soon as it is seen, not with the next batch: the server's local
    runs set it, so that an engine killed just after a task ended does not leave it ``running`` in the store
    (its next owner would run it again)."""
    log_limit: int = 50 * 1024 * 1024
    cancel_poll: float = 0.5
    clock: Callable[[], float] = time.time


class Runner:
    """Runs one compiled plan to the end; ``await runner.run()`` returns the final state."""

    def __init__(self, plan: Plan, ctx: RunContext, executor: Executor, store: Store, logs: LogStore,
                 env: RunEnv, *, secrets: Mapping[str, str], base_env: Mapping[str, str],
                 options: RunOptions | None = None, progress: Progress | None = None) -> None:
        self.plan, self.ctx, self.executor, self.store, self.logs, self.env = plan, ctx, executor, store, logs, env
        self.secrets = dict(secrets)
        self.base_env = dict(base_env)
        self.options = options or RunOptions()
        self.progress = progress
        self.masker_values = [v for v in self.secrets.values() if v]
        self.provided: frozenset[str] = frozenset()
        """Secrets the executor supplies itself (``Executor.provide_secrets``)."""
        self._cancel = False
        self._force = False
        self._wake = asyncio.Event()
        """Set by ``cancel`` to decide again at once; cleared at the top of every turn of the loop."""
        self._inflight: dict[str, asyncio.Task[TaskOutcome]] = {}
        self._sinks: dict[str, TaskLogSink] = {}
        self._persisted: dict[str, TaskState] = {}
        self._pending_steps: list[StepRow] = []
        self._exit_codes: dict[str, dict[str, int | None]] = {}
        """Step exit codes of merged chains' tasks, from which their members' states follow."""
        self._wake_wait: asyncio.Future[Any] | None = None
        self._last_flush = 0.0
        self._last_poll = 0.0
        self.state: RunState | None = None

    def cancel(self, *, force: bool = False) -> None:
        """Ask the run to stop (Ctrl-C): the scheduler cancels the running tasks but ``interruptible: false``
        ones, finally tasks still run. ``force`` (a second Ctrl-C) cancels everything, finally tasks too."""
        self._cancel = True
        if force:
            self._force = True
        self._wake.set()

    # -- the loop ------------------------------------------------------------------------------------------

    async def run(self, start: RunState | None = None) -> RunState:
        """Drive the run to its end; ``start`` resumes from stored task states (a takeover) instead of the
        initial state."""
        state = start if start is not None else initial_state(self.plan, self.options.clock())
        if start is not None and self.plan.members:  # merged chains that ended keep their members' states
            self._exit_codes.update(merged_exit_codes(self.plan, self.store.get_run(self.ctx.run_id)))
        self.store.set_run_status(self.ctx.run_id, "running", started_at=state.started_at)
        self._flush(state, force=True)
        try:
            await self.executor.setup(self.env)
            if start is not None:  # resumed: what the dead engine's attempts left running goes first
                await self.executor.stop_leftovers(self.env)
            await self._provide_secrets()
            state = await self._loop(state)
        except Exception as exc:  # setup refused (RBAC, quota, a missing Secret...), or a bug: not "running"
            reason = str(exc) if isinstance(exc, WishstarError) else f"the engine stopped: {exc}"
            self.store.set_run_status(self.ctx.run_id, "failed", self._mask(reason),
                                      finished_at=self.options.clock())
            raise
        finally:
            for task in self._inflight.values():
                task.cancel()
            if self._inflight:
                await asyncio.gather(*self._inflight.values(), return_exceptions=True)
            if self._wake_wait is not None:
                self._wake_wait.cancel()
            if self._pending_steps:  # only when the loop stopped on an exception; do not mask it
                with contextlib.suppress(Exception):
                    self.store.record_steps(self.ctx.run_id, self._pending_steps)
            await self.executor.teardown(self.env)
        return state

    async def _provide_secrets(self) -> None:
        """Ask the executor for the secrets this run was not given (Kubernetes Secrets); mask their values."""
        wanted = {name: keys for name, keys in secret_refs(self.plan.all_tasks()).items()
                  if name not in self.secrets}
        if not wanted:
            return
        provided = await self.executor.provide_secrets(self.env, wanted)
        self.provided = frozenset(provided)
        self.masker_values += [value for values in provided.values() for value in values if value]

    async def _loop(self, state: RunState) -> RunState:
        while True:
            now = self.options.clock()
            self._wake.clear()
            if (self._cancel and not state.cancel_requested) or (self._force and not state.forced):
                state = request_cancel(state, force=self._force)
            decision = decide(self.plan, state, now, self._facts, self.options.concurrency)
            state = decision.state
            started = False
            for action in decision.actions:
                if isinstance(action, Start):
                    state = self._start(state, action.task, action.attempt, now)
                    started = True
                elif isinstance(action, Cancel):  # only the tasks the scheduler names (``outcome.interrupts``)
                    self._inflight[action.task].cancel() if action.task in self._inflight else None
                elif isinstance(action, Finish):
                    self.state = state
                    self._flush(state, force=True)
                    self.store.set_run_status(self.ctx.run_id, action.status, self._mask(action.reason),
                                              finished_at=self.options.clock())
                    self._report(state)
                    return state
            if started and self._inflight:
                # Let the tasks just started spawn their processes first; the bookkeeping below then runs
                # while they do, instead of delaying them (it matters most for a chain of short tasks).
                await asyncio.sleep(0)
            state = self._waiting_reasons(state)
            self.state = state
            self._flush(state)
            self._report(state)
            state = await self._wait(state, decision.wake_at)

    async def _wait(self, state: RunState, wake_at: float | None) -> RunState:
        now = self.options.clock()
        timeout = self.options.cancel_poll
        if wake_at is not None:
            timeout = max(0.0, min(timeout, wake_at - now))
        if self.progress is not None:
            timeout = min(timeout, 0.25)
        waiters: set[asyncio.Future[Any]] = set(self._inflight.values())
        if self._wake_wait is None or self._wake_wait.done():  # one waiter until it fires, not one per wait
            self._wake_wait = asyncio.ensure_future(self._wake.wait())
        waiters.add(self._wake_wait)
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        now = self.options.clock()
        ended = False
        for name, task in list(self._inflight.items()):
            if task.done():
                del self._inflight[name]
                state = self._finish(state, name, task, now)
                ended = True
        if ended and self.options.flush_each_end:
            self._flush(state, force=True)
        if now - self._last_poll >= self.options.cancel_poll and not self._cancel:
            self._last_poll = now
            if self.store.cancel_requested(self.ctx.run_id):
                self._cancel = True
        return state

    # -- actions -------------------------------------------------------------------------------------------

    def _start(self, state: RunState, name: str, attempt: int, now: float) -> RunState:
        task = self.plan.task(name)
        # Statuses ($(tasks.status), $(tasks.NAME.status)) are only valid in finally tasks (validation refuses
        # them elsewhere), so regular tasks skip building them: O(tasks) per start adds up to O(tasks^2).
        view = RuntimeView(
            run_id=self.ctx.run_id,
            results=self._results_for(state, task.result_refs),
            statuses=({n: s.status for n, s in self._with_members(state).items()} if task.is_finally else {}),
            aggregate_status=aggregate_status(self.plan, state) if task.is_finally else "",
            secrets=self.secrets,
            provided=self.provided,
            base_env={**self.base_env, "WISHSTAR_TASK": name, "WISHSTAR_ATTEMPT": str(attempt)},
        )
        paths = self.executor.reference_paths(self.env, task, attempt)
        try:
            resolved = resolve_task(task, view, attempt=attempt, paths=paths,
                                    default_cwd=self.env.checkout_dir or self.env.run_dir)
        except MissingSecret as exc:
            return finished(self.plan, state, name, succeeded=False, now=now, exit_code=None,
                            reason=str(exc), results={})
        sink = self.logs.sink(self.ctx.run_id, name, attempt, self.masker_values, limit=self.options.log_limit)
        self._sinks[name] = sink
        self._inflight[name] = asyncio.create_task(self.executor.execute(resolved, sink), name=name)
        return state

    def _finish(self, state: RunState, name: str, task: asyncio.Task[TaskOutcome], now: float) -> RunState:
        sink = self._sinks.pop(name, None)
        attempt = state.task(name).attempts
        if sink is not None:
            sink.close()
        if task.cancelled():
            outcome, cancelled = TaskOutcome("failed", reason="cancelled"), True
        elif task.exception() is not None:
            exc = task.exception()
            outcome, cancelled = TaskOutcome("failed", reason=f"executor error: {exc}"), False
        else:
            outcome, cancelled = task.result(), False
        self._record_steps(name, attempt, outcome, sink)  # written with the task rows by the next flush
        if self.plan.task(name).members:
            self._exit_codes[name] = {step.name: step.exit_code for step in outcome.steps}
        reason = None if cancelled else self._mask(outcome.reason)  # a cancellation's is the scheduler's
        results = {k: self._mask(v) or "" for k, v in outcome.results.items()}
        state = finished(self.plan, state, name, succeeded=outcome.status == "succeeded", now=now,
                         exit_code=outcome.exit_code, reason=reason, results=results, cancelled=cancelled)
        if results != dict(outcome.results):
            # masked copies go to the store; the next tasks still see the real values
            state = state.with_task(name, results=dict(outcome.results))
        return state

    def _waiting_reasons(self, state: RunState) -> RunState:
        """Show why a started task is not running yet ("waiting: 0/3 nodes are available ..."), live in
        ``runs show`` and the progress view, and clear it once the executor no longer reports one."""
        for name in self._inflight:
            current = state.task(name).reason
            why = self.executor.waiting_reason(name, self.ctx.run_id)
            wanted = f"waiting: {why}" if why else None
            if wanted != current and (wanted or (current or "").startswith("waiting: ")):
                state = state.with_task(name, reason=self._mask(wanted))
        return state

    def _record_steps(self, name: str, attempt: int, outcome: TaskOutcome, sink: TaskLogSink | None) -> None:
        logs = sink.step_logs() if sink is not None else {}
        for i, step in enumerate(outcome.steps):
            log = logs.get(step.name)
            self._pending_steps.append(StepRow(
                name, attempt, step.name, exit_code=step.exit_code, started_at=step.started_at,
                finished_at=step.finished_at, log_path=log.path if log else None,
                truncated=bool(log and log.truncated), bytes=log.size if log else 0, position=i))

    # -- bookkeeping ---------------------------------------------------------------------------------------

    def _mask(self, text: str | None) -> str | None:
        if text is None or not self.masker_values:
            return text
        masker = Masker(self.masker_values)
        return (masker.feed(text.encode()) + masker.flush()).decode(errors="replace")

    def _flush(self, state: RunState, force: bool = False) -> None:
        now = self.options.clock()
        if not force and now - self._last_flush < self.options.flush_interval:
            return
        self._last_flush = now
        rows = []
        members = self._members(state)
        position = 0
        for task in self.plan.all_tasks():
            for name in (task.name, *task.members):  # members keep their place before they have a state
                position += 1
                current = state.task(name) if name == task.name else members.get(name)
                if current is None or self._persisted.get(name) == current:
                    continue
                self._persisted[name] = current
                rows.append(TaskRow(name=name, status=current.status, base=task.base if name == task.name else name,
                                    is_finally=task.is_finally,
                                    reason=self._mask(current.reason), attempts=current.attempts,
                                    exit_code=current.exit_code,
                                    results={k: self._mask(v) or "" for k, v in current.results.items()},
                                    started_at=current.started_at, finished_at=current.finished_at,
                                    position=position - 1))
        if rows or self._pending_steps:
            self.store.record_steps(self.ctx.run_id, self._pending_steps, rows,
                                    upstream=self._upstream_images(state, rows))
            self._pending_steps = []

    def _upstream_images(self, state: RunState, rows: list[TaskRow]) -> dict[str, dict[str, str]]:
        """For each succeeded Helm task being stored without its own ``IMAGE_DIGEST``: the image results of
        the nearest upstream task that has one (an image build), so its deployment records the digest."""
        out: dict[str, dict[str, str]] = {}
        for row in rows:
            if row.status == "succeeded" and "RELEASE_REVISION" in row.results and "IMAGE_DIGEST" not in row.results:
                found = self._nearest_image(state, row.name)
                if found:
                    out[row.name] = found
        return out

    def _nearest_image(self, state: RunState, name: str) -> dict[str, str] | None:
        """The image results of the closest upstream task (fewest edges away) with an ``IMAGE_DIGEST``; None
        when there is none, or when several at that distance report different digests (no guessing)."""
        before: dict[str, list[str]] = {}
        for edge in self.plan.edges:
            before.setdefault(edge.target, []).append(edge.source)
        known = self._with_members(state)
        seen, level = {name}, set(before.get(name, ()))
        while level:
            seen |= level
            found = [known[n].results for n in sorted(level) if n in known and known[n].results.get("IMAGE_DIGEST")]
            if found:
                if len({r["IMAGE_DIGEST"] for r in found}) > 1:
                    return None
                return {k: self._mask(found[0][k]) or "" for k in ("IMAGE_DIGEST", "IMAGE_URL") if k in found[0]}
            level = {up for n in level for up in before.get(n, ()) if up not in seen}
        return None

    def _members(self, state: RunState) -> dict[str, TaskState]:
        """The states of the members of merged chains that have ended (``engine.scheduler.members``)."""
        out: dict[str, TaskState] = {}
        for task in self.plan.tasks.values():
            current = state.task(task.name)
            if task.members and current.done:
                out.update(member_states(task, current, self._exit_codes.get(task.name, {})))
        return out

    def _with_members(self, state: RunState) -> dict[str, TaskState]:
        return {**state.tasks, **self._members(state)} if self.plan.members else dict(state.tasks)

    def _results_for(self, state: RunState, refs: tuple[ResultRef, ...]) -> dict[str, Mapping[str, str]]:
        """The results a task's references need, by the task that produced them (a member of a merged chain
        included: its results are the merged task's ``member.result``)."""
        out: dict[str, Mapping[str, str]] = {}
        for ref in refs:
            source, _ = result_source(self.plan, ref)
            if source not in state.tasks:
                continue
            if source == ref.task:
                out[ref.task] = state.task(source).results
            else:
                prefix = f"{ref.task}."
                out[ref.task] = {k[len(prefix):]: v for k, v in state.task(source).results.items()
                                 if k.startswith(prefix)}
        return out

    def _report(self, state: RunState) -> None:
        if self.progress is None:
            return
        tails = {name: sink.tail() for name, sink in self._sinks.items()}
        self.progress(Snapshot(state, tails, self.options.clock()))

    def _facts(self, state: RunState) -> dict[str, Any]:
        git = {k: "" for k in ("url", "branch", "tag", "commit", "message", "author", "mr_title", "mr_iid",
                               "target_branch")}
        git.update(self.ctx.git.as_dict())
        tasks = {n: {"status": s.status, "results": dict(s.results)} for n, s in self._with_members(state).items()}
        for task in self.plan.all_tasks():
            tasks.setdefault(task.base, tasks[task.name])
        return {"git": git, "event": self.ctx.event, "params": dict(self.plan.params), "tasks": tasks,
                "context": {"run": {"id": self.ctx.run_id, "number": self.ctx.number},
                            "pipeline": {"name": self.plan.pipeline}}}


def base_env(ctx: RunContext, pipeline: str, host_env: Mapping[str, str]) -> dict[str, str]:
    """The environment every step starts from: a few host variables, the run's identity, the git context."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "SHELL", "TZ")
    env = {k: host_env[k] for k in keep if k in host_env}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update({"CI": "true", "WISHSTAR": "true", "WISHSTAR_RUN_ID": ctx.run_id, "WISHSTAR_PIPELINE": pipeline,
                "WISHSTAR_BUILD_NUMBER": str(ctx.number), "WISHSTAR_EVENT": ctx.event})
    env.update(ctx.git.env())
    return env

