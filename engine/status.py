"""The status vocabulary: every set of statuses a run, a task, a task attempt or a webhook event can have.

Why: the store checks statuses before writing them, the scheduler decides with them, the server and the CLI
show and filter by them; each set is written here once, as a ``Literal`` type (for mypy) with the tuple of its
values derived from it (for checks at run time), so the two cannot drift apart. Must not import anything of
Wishstar and must hold no behaviour beyond membership: it is the lowest layer, importable by every other.
"""

from __future__ import annotations

from typing import Literal, get_args

ActiveRunStatus = Literal["pending", "running"]
"""A run that has not ended: waiting to start, or being driven by an engine process."""
EndedRunStatus = Literal["succeeded", "failed", "cancelled"]
RunStatus = Literal[ActiveRunStatus, EndedRunStatus]

EndedTaskStatus = Literal["succeeded", "failed", "skipped", "cancelled"]
"""A task that will not start again in this run (``skipped``: its ``when`` or a failed dependency)."""
ActiveTaskStatus = Literal["pending", "running"]
TaskStatus = Literal[ActiveTaskStatus, EndedTaskStatus]

AttemptStatus = Literal["succeeded", "failed"]
"""What one attempt of a task came to, as the executor reports it (the scheduler then decides the task's
status: retry, fail, or cancelled when the runner stopped it)."""

EventStatus = Literal["pending", "claimed", "done", "skipped", "failed", "ignored"]
"""A stored webhook delivery: waiting, claimed by a worker, turned into runs, started nothing (and why),
failed, or not an event Wishstar acts on."""

LeaseState = Literal["queued", "active", "done"]
"""A run's lease: waiting for its concurrency group or a worker, driven by a replica, released."""

RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
ACTIVE_RUN_STATUSES: tuple[ActiveRunStatus, ...] = get_args(ActiveRunStatus)
ENDED_RUN_STATUSES: tuple[EndedRunStatus, ...] = get_args(EndedRunStatus)
TASK_STATUSES: tuple[TaskStatus, ...] = get_args(TaskStatus)
ACTIVE_TASK_STATUSES: tuple[ActiveTaskStatus, ...] = get_args(ActiveTaskStatus)
ENDED_TASK_STATUSES: tuple[EndedTaskStatus, ...] = get_args(EndedTaskStatus)
ATTEMPT_STATUSES: tuple[AttemptStatus, ...] = get_args(AttemptStatus)
EVENT_STATUSES: tuple[EventStatus, ...] = get_args(EventStatus)
LEASE_STATES: tuple[LeaseState, ...] = get_args(LeaseState)
WAITING_LEASE_STATES: tuple[LeaseState, ...] = ("queued", "active")
"""Leases that hold (or wait for) a place in their concurrency group."""
