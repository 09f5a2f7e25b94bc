"""Listing runs: newest first, filtered by status, branch and pipeline, limited."""

from __future__ import annotations

import pytest

from wishstar.engine.records import RunSummary
from wishstar.engine.store import InvalidStatus, Store, shape

T0 = 1_700_000_000.0


@pytest.fixture
def runs(store: Store) -> dict[str, str]:
    """Six runs over two branches, two pipelines and three statuses, one minute apart."""
    specs = [("ci", "main", "succeeded"), ("ci", "main", "failed"), ("ci", "dev", "failed"),
             ("deploy", "main", "failed"), ("deploy", "dev", "running"), ("ci", None, "failed")]
    ids = {}
    for i, (pipeline, branch, status) in enumerate(specs):
        git = {"branch": branch, "commit": f"c{i}"} if branch else {}
        run_id, number = store.create_run(pipeline, git=git, created_at=T0 + 60 * i)
        store.set_run_status(run_id, status)
        ids[f"{pipeline}#{number}"] = run_id
    return ids


def _names(rows: list[RunSummary]) -> list[str]:
    return [f"{r.pipeline}#{r.number}" for r in rows]


@pytest.mark.parametrize(("filters", "expected"), [
    ({}, ["ci#4", "deploy#2", "deploy#1", "ci#3", "ci#2", "ci#1"]),
    ({"status": "failed"}, ["ci#4", "deploy#1", "ci#3", "ci#2"]),
    ({"branch": "main", "status": "failed"}, ["deploy#1", "ci#2"]),
    ({"pipeline": "ci", "branch": "dev"}, ["ci#3"]),
    ({"status": "failed", "limit": 2}, ["ci#4", "deploy#1"]),
    ({"branch": "release"}, []),
], ids=["all-newest-first", "by-status", "by-branch-and-status", "by-pipeline-and-branch", "limited", "none"])
def test_filters_narrow_the_list(store: Store, runs: dict[str, str], filters: dict[str, object],
                                 expected: list[str]) -> None:
    assert _names(store.list_runs(**filters)) == expected  # type: ignore[arg-type]


def test_a_summary_carries_branch_commit_and_iso_times(store: Store, runs: dict[str, str]) -> None:
    row = shape.run_summary(store.list_runs(branch="main", status="succeeded")[0])
    assert row == {"id": runs["ci#1"], "pipeline": "ci", "number": 1, "status": "succeeded", "reason": None,
                   "event": None, "branch": "main", "commit": "c0", "created_at": "2023-11-14T22:13:20.000Z",
                   "started_at": None, "finished_at": None}


def test_an_unknown_status_filter_is_refused(store: Store) -> None:
    with pytest.raises(InvalidStatus):
        store.list_runs(status="broken")
