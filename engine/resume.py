"""Continuing a run from its stored task rows: the state a new engine process starts the scheduler from.

Why: a run can outlive the process driving it. A server replica dies and another takes the run over; a
``wishstar run --executor kubernetes`` process is killed and ``wishstar runs resume`` picks it up. Both must
rebuild the same scheduler state from what the store recorded, so that finished tasks are not run again and a
task whose Pod outlived the engine is re-attached to (the same attempt number) instead of started twice.

Pure: a plan and a stored run (``engine.records.RunRecord``) in, a ``RunState`` out. No I/O, no clock (``now``
is an argument), no store, no executor.
"""

from __future__ import annotations

from wishstar.engine.compiler.types import Plan
from wishstar.engine.records import RunRecord
from wishstar.engine.scheduler.state import RunState, TaskState
from wishstar.engine.status import ENDED_TASK_STATUSES


def interrupted_reason(attempt: int) -> str:
    """The reason a task shows when the attempt its engine was running is started again as a new one."""
    return f"engine restarted: attempt {attempt} was interrupted; running it again as attempt {attempt + 1}"


def resume_state(plan: Plan, run: RunRecord, now: float, *, reattach: bool = False) -> RunState:
    """The state to continue a run from after a takeover: finished tasks as stored (never run again), a task
    that was running pending again, everything else pending. A running task's next start is a new attempt
    (the interrupted one is counted; the executor's ``stop_leftovers`` has killed what it left running), or
    with ``reattach`` (its Pod outlived the engine) the same attempt again, which the executor re-attaches to."""
    stored = {t.name: t for t in run.tasks}
    tasks: dict[str, TaskState] = {}
    for task in plan.all_tasks():
        row = stored.get(task.name)
        if row is None:
            tasks[task.name] = TaskState()
        elif row.status in ENDED_TASK_STATUSES:
            tasks[task.name] = TaskState(status=row.status, attempts=row.attempts, reason=row.reason,
                                         exit_code=row.exit_code, results=dict(row.results),
                                         started_at=row.started_at, finished_at=row.finished_at)
        elif row.status == "running" and reattach:
            tasks[task.name] = TaskState(
                attempts=max(row.attempts - 1, 0), started_at=row.started_at,
                reason=f"the engine driving it stopped; re-attaching to the Pod of attempt {row.attempts}")
        else:
            lost = row.status == "running"
            tasks[task.name] = TaskState(
                attempts=row.attempts, started_at=row.started_at,
                reason=interrupted_reason(row.attempts) if lost else row.reason)
    return RunState(tasks=tasks, started_at=run.started_at or now)


def merged_exit_codes(plan: Plan, run: RunRecord) -> dict[str, dict[str, int | None]]:
    """For each merged chain (``placement``) that had already ended: its steps' exit codes (of its last
    attempt) by step name, as stored. The runner derives the members' states from them
    (``engine.scheduler.members``); without them a resumed run would rewrite correct member rows as "the
    first member failed, the others were skipped"."""
    stored = {t.name: t for t in run.tasks}
    out: dict[str, dict[str, int | None]] = {}
    for task in plan.all_tasks():
        row = stored.get(task.name)
        if not task.members or row is None or row.status not in ENDED_TASK_STATUSES:
            continue
        out[task.name] = {s.name: s.exit_code for s in row.last_attempt_steps()}
    return out
