"""The status vocabulary (``engine.status``): each set is one Literal and the tuples derived from it agree."""

from __future__ import annotations

from wishstar.engine import status


def test_a_run_is_either_active_or_ended_never_both() -> None:
    assert set(status.ACTIVE_RUN_STATUSES) | set(status.ENDED_RUN_STATUSES) == set(status.RUN_STATUSES)
    assert not set(status.ACTIVE_RUN_STATUSES) & set(status.ENDED_RUN_STATUSES)


def test_a_task_is_either_active_or_ended_and_can_be_skipped_unlike_a_run() -> None:
    assert set(status.ACTIVE_TASK_STATUSES) | set(status.ENDED_TASK_STATUSES) == set(status.TASK_STATUSES)
    assert set(status.TASK_STATUSES) - set(status.RUN_STATUSES) == {"skipped"}


def test_an_attempt_only_succeeds_or_fails_and_both_end_a_task() -> None:
    assert status.ATTEMPT_STATUSES == ("succeeded", "failed")
    assert set(status.ATTEMPT_STATUSES) <= set(status.ENDED_TASK_STATUSES)


def test_leases_that_hold_a_place_in_their_group_are_lease_states() -> None:
    assert set(status.WAITING_LEASE_STATES) < set(status.LEASE_STATES)
