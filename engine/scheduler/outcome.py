"""How a run and its tasks come out: why the run is stopping, which running tasks a stop interrupts, the reason a
cancelled task records, ``$(tasks.status)`` for finally tasks, and the run's final status.

Why a module of its own: these are the scheduler's decisions that the runner reports (reasons in ``runs show``,
the aggregate status a finally task sees); the runner asks for them and never words or computes them itself.
Pure functions of the plan and the ``RunState``: no I/O, no clock.

Rules (documented for users in docs/pipeline.md):
- A stop (a cancel request, the pipeline timeout, a failure with ``onFailure: cancel``) cancels the running
  tasks, except those marked ``interruptible: false`` (``TaskPlan.interruptible``; a chain merged into one Pod
  is not interruptible when any member is): they finish and their outcome counts. Finally tasks are never
  cancelled by a stop: they start after it.
- A forced stop (a second Ctrl-C, a server replica giving the run up) cancels every running task, finally
  tasks and non-interruptible ones included, and starts nothing more.
"""

from __future__ import annotations

from wishstar.engine.compiler.types import Plan
from wishstar.engine.scheduler.state import RunState
from wishstar.engine.status import RunStatus

RUN_CANCELLED = "the run was cancelled"
PIPELINE_TIMED_OUT = "the pipeline timed out"
FORCED_BEFORE_START = "cancelled before it started (forced stop)"


def stopping_reason(plan: Plan, state: RunState) -> str | None:
    """Why no new regular task may start (a cancel request, the timeout, a failure), or None."""
    if state.cancel_requested:
        return RUN_CANCELLED
    if state.timed_out:
        return PIPELINE_TIMED_OUT
    tasks = state.tasks
    for name, task in plan.tasks.items():
        status = tasks[name].status
        if (status == "failed" and not task.allow_failure) or status == "cancelled":
            return f'task "{name}" {status}'
    return None


def interrupts(plan: Plan, state: RunState, name: str) -> bool:
    """Whether the stop under way cancels the running task ``name`` (see the module docstring)."""
    if state.forced:
        return True
    task = plan.task(name)
    if task.is_finally or not task.interruptible:
        return False
    return state.cancel_requested or state.timed_out or plan.on_failure == "cancel"


def cancel_reason(state: RunState) -> str:
    """The reason a task that was cancelled while it ran records."""
    if state.cancel_requested:
        return f"cancelled: {RUN_CANCELLED}"
    if state.timed_out:
        return f"cancelled: {PIPELINE_TIMED_OUT}"
    return "cancelled: another task failed (onFailure: cancel)"


def aggregate_status(plan: Plan, state: RunState) -> str:
    """``$(tasks.status)`` for finally tasks: succeeded, failed, cancelled or completed (failures allowed)."""
    regular = [state.task(n) for n in plan.tasks]
    if state.cancel_requested or any(s.status == "cancelled" for s in regular):
        return "cancelled"
    failed = [n for n in plan.tasks if state.task(n).status == "failed"]
    if any(not plan.tasks[n].allow_failure for n in failed) or state.timed_out:
        return "failed"
    if failed or any(s.status == "skipped" for s in regular):
        return "completed"
    return "succeeded"


def run_outcome(plan: Plan, state: RunState) -> tuple[RunStatus, str | None]:
    """The run's final status and reason, once every task is done."""
    if state.cancel_requested:
        return "cancelled", RUN_CANCELLED
    if state.timed_out:
        return "failed", PIPELINE_TIMED_OUT
    # A failure first: tasks cancelled because of it come earlier in the order but are not the cause.
    for bad in ("failed", "cancelled"):
        for name in [*plan.tasks, *plan.finally_tasks]:
            s = state.task(name)
            if s.status == bad and not plan.task(name).allow_failure:
                return "failed", f'task "{name}" {s.status}' + (f": {s.reason}" if s.reason else "")
    return "succeeded", None
