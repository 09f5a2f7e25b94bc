"""Kubernetes runs whose engine process died: where their Pods live (``runs.target``), why the reaper leaves
them active, and how exactly one process takes such a run over or ends it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from sqlalchemy import insert

from wishstar.engine.store import Store, TaskRow, db
from wishstar.engine.store.models import pipelines, runs

T0 = 1_700_000_000.0
TARGET = {"namespace": "ci", "kubeconfig": "/home/ada/.kube/config", "context": "kind-kind"}


def dead(host: str, pid: int) -> bool:
    return False


def test_a_runs_target_is_stored_and_read_back_with_its_origin(store: Store) -> None:
    run_id, _ = store.create_run("ci", executor="kubernetes", target=TARGET, file="ci/.wishstar.yaml")
    origin = store.origin(run_id)
    assert (origin.executor, origin.target, origin.file) == ("kubernetes", TARGET, "ci/.wishstar.yaml")


def test_a_run_without_a_target_has_none(store: Store) -> None:
    run_id, _ = store.create_run("ci", executor="local")
    assert store.origin(run_id).target is None


def test_the_reaper_fails_a_local_orphan_but_leaves_a_kubernetes_orphan_running(store: Store) -> None:
    local, _ = store.create_run("ci", executor="local", host="h", pid=7, status="running")
    pods, _ = store.create_run("ci", executor="kubernetes", target=TARGET, host="h", pid=8, status="running")
    store.upsert_tasks(pods, [TaskRow(name="build", status="running", attempts=1), TaskRow(name="test")])
    assert store.reap_orphans(dead, now=T0) == [local]
    run = store.get_run(pods)
    assert (run.status, run.reason) == ("running", None)
    assert [t.status for t in run.tasks] == ["running", "pending"]
    assert store.orphans(dead) == [pods]


def test_a_kubernetes_run_whose_process_lives_or_that_finished_is_no_orphan(store: Store) -> None:
    live, _ = store.create_run("ci", executor="kubernetes", target=TARGET, host="h", pid=1, status="running")
    done, _ = store.create_run("ci", executor="kubernetes", target=TARGET, host="h", pid=2)
    store.set_run_status(done, "succeeded")
    assert store.orphans(lambda host, pid: pid == 1) == []
    assert (store.origin(live).host, store.origin(live).pid) == ("h", 1)


def test_a_kubernetes_run_without_a_target_is_no_orphan_and_is_not_reaped(store: Store) -> None:
    served, _ = store.create_run("ci", executor="kubernetes", host="h", pid=8, status="running")
    assert store.reap_orphans(dead) == []
    assert store.orphans(dead) == []
    assert store.get_run(served).status == "running"


def test_of_two_processes_taking_an_orphan_over_only_the_first_wins(open_store: Callable[[], Store]) -> None:
    first, second = open_store(), open_store()
    run_id, _ = first.create_run("ci", executor="kubernetes", target=TARGET, host="h", pid=8, status="running")
    assert first.take_over(run_id, "h", 8, new_host="h", new_pid=100) is True
    assert second.take_over(run_id, "h", 8, new_host="h", new_pid=200) is False
    assert second.origin(run_id).pid == 100
    assert second.orphans(lambda host, pid: pid == 100) == []


def test_a_finished_run_cannot_be_taken_over(store: Store) -> None:
    run_id, _ = store.create_run("ci", executor="kubernetes", host="h", pid=8)
    store.set_run_status(run_id, "failed", "it broke")
    assert store.take_over(run_id, "h", 8) is False


def test_ending_an_owned_run_cancels_it_with_its_running_and_pending_tasks(store: Store) -> None:
    run_id, _ = store.create_run("ci", executor="kubernetes", host="h", pid=8, status="running")
    store.upsert_tasks(run_id, [TaskRow(name="build", status="succeeded", attempts=1),
                                TaskRow(name="test", status="running", attempts=1), TaskRow(name="deploy")])
    assert store.end_owned_run(run_id, "h", 9, "cancelled", "cancelled while orphaned", now=T0) is False
    assert store.end_owned_run(run_id, "h", 8, "cancelled", "cancelled while orphaned", now=T0) is True
    run = store.get_run(run_id)
    assert (run.status, run.reason, run.finished_at) == ("cancelled", "cancelled while orphaned", T0)
    assert [t.status for t in run.tasks] == ["succeeded", "cancelled", "cancelled"]


def test_a_run_recorded_before_the_target_column_reads_back_with_none(store_url: str | None,
                                                                       tmp_path: Path) -> None:
    state = tmp_path / "old"
    state.mkdir()
    engine = db.make_engine(store_url or db.sqlite_url(state))
    try:
        with db.write(engine) as conn:
            cfg = db.alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0003")
            conn.execute(insert(pipelines).values(name="ci", last_number=1))
            conn.execute(insert(runs).values(id="aaaaaaaaaaaa", pipeline="ci", number=1, status="succeeded",
                                             params={}, git={}, created_at=T0, cancel_requested=False))
    finally:
        engine.dispose()
    with Store.open(store_url, state) as store:
        assert store.origin("aaaaaaaaaaaa").target is None
