"""The scheduler: a pure decision step ``decide(plan, state, now, facts, limit) -> Decision``, plus the pure
transitions ``finished`` (fold an attempt's outcome into the state) and ``request_cancel``.

Rules (documented for users in docs/pipeline.md):
- A task is ready when every task it needs is done (succeeded, failed with ``allow_failure``, or skipped).
- ``when`` false skips a task with the reason; consuming a skipped task's result skips the consumer; only
  *needing* a skipped task does not (as in Tekton).
- After a failure (not allowed) no new task starts; ``onFailure: cancel`` also cancels running ones, ``wait``
  (default) lets them finish. Tasks never started are skipped with the reason.
- Retries wait ``backoff * factor**(n-1)`` (capped) between attempts.
- A pipeline timeout or a cancel request cancels running tasks; ``finally`` tasks then run in every case.
- ``interruptible: false`` tasks are not cancelled by any of these (they finish and count); a forced stop
  cancels everything and starts no finally task (``engine.scheduler.outcome`` holds these rules and reasons).
No I/O, no clock: ``now`` is an argument. Readiness is computed here from the task states (a task's ``needs``),
not from ``engine.dag``: the scheduler asks it O(tasks) times per decision and the state already holds it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from wishstar.engine.compiler.placement import result_source
from wishstar.engine.compiler.types import Plan, TaskPlan
from wishstar.engine.scheduler.outcome import (
    FORCED_BEFORE_START,
    cancel_reason,
    interrupts,
    run_outcome,
    stopping_reason,
)
from wishstar.engine.scheduler.state import RunState, TaskState
from wishstar.engine.spec import cel
from wishstar.engine.status import ENDED_RUN_STATUSES, ENDED_TASK_STATUSES, RunStatus


@dataclass(frozen=True)
class Start:
    task: str
    attempt: int


@dataclass(frozen=True)
class Cancel:
    task: str
    reason: str


@dataclass(frozen=True)
class Finish:
    status: RunStatus
    reason: str | None


Action = Start | Cancel | Finish


@dataclass(frozen=True)
class Decision:
    state: RunState
    actions: tuple[Action, ...]
    wake_at: float | None
    """When to decide again if nothing else happens (a retry backoff or the pipeline deadline)."""


Facts = Callable[[RunState], Mapping[str, Any]]
"""Builds the CEL activation (git, event, params, tasks, context) from the current state."""


def initial_state(plan: Plan, now: float) -> RunState:
    return RunState(tasks={t.name: TaskState() for t in plan.all_tasks()}, started_at=now)


def _skip_reason(plan: Plan, task: TaskPlan, state: RunState, facts: Facts) -> str | None:
    for ref in task.result_refs:
        source, key = result_source(plan, ref)
        src = state.tasks.get(source)
        if src is None:
            continue
        if src.status == "skipped":
            return f'it uses result "{ref.result}" of task "{ref.task}", which was skipped'
        if key not in src.results:
            return f'result "{ref.result}" of task "{ref.task}" was not produced'
    if task.when:
        try:
            if not cel.evaluate(task.when, facts(state)):
                return f"when condition was false: {task.when}"
        except cel.CelError as exc:
            raise _WhenError(f"when condition {task.when!r} could not be evaluated: {exc}") from None
    return None


class _WhenError(Exception):
    pass


def _try_start(plan: Plan, state: RunState, name: str, now: float, facts: Facts,
               actions: list[Action]) -> RunState:
    task = plan.task(name)
    current = state.task(name)
    if current.attempts == 0:
        try:
            reason = _skip_reason(plan, task, state, facts)
        except _WhenError as exc:
            return state.with_task(name, status="failed", reason=str(exc), finished_at=now, started_at=now)
        if reason:
            return state.with_task(name, status="skipped", reason=reason, finished_at=now)
    attempt = current.attempts + 1
    actions.append(Start(name, attempt))
    return state.with_task(name, status="running", attempts=attempt, retry_at=None, finished_at=None,
                           started_at=current.started_at if current.started_at is not None else now)


def _running(state: RunState) -> int:
    return sum(1 for s in state.tasks.values() if s.status == "running")


def _schedule(plan: Plan, state: RunState, names: list[str], now: float, facts: Facts, limit: int,
              actions: list[Action], ready: Callable[[RunState, str], bool]) -> tuple[RunState, float | None]:
    """Start or skip every ready task, repeating until nothing changes (a skip can make others ready).

    Only a task that ends in a pass (skipped, or failed on its ``when``) can make another one ready or free
    a slot; a pass that merely started tasks would be followed by one that changes nothing and sees the same
    retry deadlines, so it is not run (this halves the cost of ``decide`` per event)."""
    while True:
        state, wake, ended = _schedule_once(plan, state, names, now, facts, limit, actions, ready)
        if not ended:
            return state, wake


def _schedule_once(plan: Plan, state: RunState, names: list[str], now: float, facts: Facts, limit: int,
                   actions: list[Action], ready: Callable[[RunState, str], bool]
                   ) -> tuple[RunState, float | None, bool]:
    """One pass: (state, earliest retry deadline seen, whether a task ended during the pass)."""
    wake: float | None = None
    ended = False
    running = _running(state)
    for name in names:
        s = state.tasks[name]
        if s.status != "pending" or not ready(state, name):
            continue
        if s.retry_at is not None and s.retry_at > now:
            wake = s.retry_at if wake is None else min(wake, s.retry_at)
            continue
        if running >= limit:
            break
        state = _try_start(plan, state, name, now, facts, actions)
        status = state.tasks[name].status
        if status == "running":
            running += 1
        elif status != "pending":
            ended = True
    return state, wake, ended


def _stop(plan: Plan, state: RunState, reason: str, actions: list[Action], now: float) -> RunState:
    """Skip the regular tasks not started; cancel the running ones the stop interrupts (all of them, finally
    tasks included, and no finally task left to start, when it is forced)."""
    why = cancel_reason(state)
    for name in plan.tasks:
        s = state.task(name)
        if s.status == "pending":
            state = state.with_task(name, status="skipped", reason=f"not started: {reason}", finished_at=now,
                                    retry_at=None)
        elif s.status == "running" and interrupts(plan, state, name):
            actions.append(Cancel(name, why))
    if state.forced:
        for name in plan.finally_tasks:
            s = state.task(name)
            if s.status == "pending":
                state = state.with_task(name, status="cancelled", reason=FORCED_BEFORE_START, finished_at=now,
                                        retry_at=None)
            elif s.status == "running":
                actions.append(Cancel(name, why))
    return state


def decide(plan: Plan, state: RunState, now: float, facts: Facts, limit: int) -> Decision:
    """What to do now. Idempotent for a given state: a started task is ``running`` in the returned state."""
    if state.status in ENDED_RUN_STATUSES:
        return Decision(state, (), None)
    actions: list[Action] = []
    wake: float | None = None
    if plan.timeout_s is not None and not state.timed_out:
        deadline = state.started_at + plan.timeout_s
        if now >= deadline:
            state = replace(state, timed_out=True)
        else:
            wake = deadline
    reason = stopping_reason(plan, state)
    if reason:
        state = _stop(plan, state, reason, actions, now)
    else:
        def ready(current: RunState, name: str) -> bool:  # inlined: called O(tasks) times per decision
            tasks = current.tasks
            for dep in plan.tasks[name].needs:
                status = tasks[dep].status
                if not (status == "succeeded" or status == "skipped"
                        or (status == "failed" and plan.task(dep).allow_failure)):
                    return False
            return True

        state, retry_wake = _schedule(plan, state, list(plan.tasks), now, facts, limit, actions, ready)
        wake = _earliest(wake, retry_wake)
    if all(state.tasks[n].status in ENDED_TASK_STATUSES for n in plan.tasks) and not _running(state):
        state, retry_wake = _schedule(plan, state, list(plan.finally_tasks), now, facts, limit, actions,
                                      lambda _s, _n: True)
        wake = _earliest(wake, retry_wake)
        if all(s.done for s in state.tasks.values()):
            status, why = run_outcome(plan, state)
            state = replace(state, status=status, reason=why)
            actions.append(Finish(status, why))
            wake = None
    return Decision(state, tuple(actions), wake)


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def finished(plan: Plan, state: RunState, name: str, *, succeeded: bool, now: float, exit_code: int | None,
             reason: str | None, results: Mapping[str, str], cancelled: bool = False) -> RunState:
    """Fold one attempt's end into the state: success, a retry after backoff, failure, or cancellation (whose
    reason, unless ``reason`` is given, is the scheduler's: ``outcome.cancel_reason``)."""
    task = plan.task(name)
    current = state.task(name)
    if succeeded:
        return state.with_task(name, status="succeeded", exit_code=exit_code, reason=reason,
                               results=dict(results), finished_at=now)
    if cancelled:
        return state.with_task(name, status="cancelled", exit_code=exit_code,
                               reason=reason if reason is not None else cancel_reason(state), finished_at=now)
    stopping = stopping_reason(plan, state) is not None and not task.is_finally
    if current.attempts <= task.retries.limit and not stopping:
        delay = task.retries.delay(current.attempts)
        note = f"attempt {current.attempts} failed ({reason}); retrying in {delay:g}s"
        return state.with_task(name, status="pending", exit_code=exit_code, reason=note, retry_at=now + delay)
    return state.with_task(name, status="failed", exit_code=exit_code, reason=reason, results=dict(results),
                           finished_at=now)


def request_cancel(state: RunState, *, force: bool = False) -> RunState:
    """Cancel the run: the running tasks a stop interrupts are cancelled, finally tasks run; ``force`` (a second
    Ctrl-C, a replica giving the run up) cancels every running task and starts nothing more."""
    return replace(state, cancel_requested=True, forced=state.forced or force)
