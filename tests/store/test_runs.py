"""Recording and reading runs: numbering, the JSON shape, references, cancellation, deletion, orphans."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wishstar.engine.spec.errors import WishstarError
from wishstar.engine.store import AmbiguousRun, InvalidStatus, RunNotFound, Store, TaskRow, shape

T0 = 1_700_000_000.0


def test_build_numbers_count_up_per_pipeline(store: Store) -> None:
    numbers = [store.create_run("build")[1], store.create_run("build")[1], store.create_run("deploy")[1],
               store.create_run("build")[1]]
    assert numbers == [1, 2, 1, 3]


def test_run_ids_are_twelve_lowercase_hex_characters(store: Store) -> None:
    run_id, _ = store.create_run("build")
    assert len(run_id) == 12
    assert all(c in "0123456789abcdef" for c in run_id)


def test_build_numbers_are_not_reused_after_a_delete(store: Store) -> None:
    first, _ = store.create_run("build")
    store.delete_run(first)
    assert store.create_run("build")[1] == 2


def test_ended_before_lists_ended_runs_oldest_first_and_never_active_ones(store: Store) -> None:
    ids = {}
    for name, status, finished in [("new", "succeeded", T0 + 500), ("old", "failed", T0 + 10),
                                   ("mid", "cancelled", T0 + 100), ("live", "running", None)]:
        ids[name], _ = store.create_run("ci")
        store.set_run_status(ids[name], status, finished_at=finished)
    assert store.ended_before(T0 + 200) == [ids["old"], ids["mid"]]
    assert store.ended_before(T0 + 1000, limit=1) == [ids["old"]]
    assert ids["live"] not in store.ended_before(T0 + 10**9)


def test_get_run_returns_the_documented_shape(store: Store) -> None:
    run_id, number = store.create_run("ci", params={"target": "prod"}, event="push", created_at=T0,
                                      git={"branch": "main", "commit": "abc123", "author": "ada"})
    store.set_run_status(run_id, "running", started_at=T0 + 1)
    build = TaskRow(name="build", status="succeeded", attempts=1, exit_code=0, results={"digest": "sha256:1"},
                    started_at=T0 + 1, finished_at=T0 + 2)
    store.upsert_tasks(run_id, [build, TaskRow(name="test", status="running", attempts=1, started_at=T0 + 2)])
    store.record_step(run_id, "build", 1, "compile", exit_code=0, started_at=T0 + 1, finished_at=T0 + 2,
                      log_path="/logs/x.log", size=42)
    run = shape.run_dict(store.get_run(run_id))
    assert run == {
        "id": run_id, "pipeline": "ci", "number": number, "status": "running", "reason": None,
        "event": "push", "git": {"branch": "main", "commit": "abc123", "author": "ada"},
        "params": {"target": "prod"}, "started_at": "2023-11-14T22:13:21.000Z", "finished_at": None,
        "tasks": [
            {"name": "build", "status": "succeeded", "reason": None, "attempts": 1, "exit_code": 0,
             "results": {"digest": "sha256:1"}, "started_at": "2023-11-14T22:13:21.000Z",
             "finished_at": "2023-11-14T22:13:22.000Z",
             "steps": [{"name": "compile", "attempt": 1, "exit_code": 0,
                        "started_at": "2023-11-14T22:13:21.000Z", "finished_at": "2023-11-14T22:13:22.000Z",
                        "log": "/logs/x.log", "truncated": False, "bytes": 42}]},
            {"name": "test", "status": "running", "reason": None, "attempts": 1, "exit_code": None,
             "results": {}, "started_at": "2023-11-14T22:13:22.000Z", "finished_at": None, "steps": []},
        ],
    }


def test_runs_survive_reopening_the_store(open_store: Callable[[], Store]) -> None:
    first = open_store()
    run_id, _ = first.create_run("ci", git={"branch": "main"})
    first.set_run_status(run_id, "succeeded", finished_at=T0)
    first.close()
    again = open_store()
    assert again.get_run(run_id).status == "succeeded"
    assert again.create_run("ci")[1] == 2


class TestReferences:
    def test_a_unique_prefix_finds_the_run(self, store: Store) -> None:
        run_id, _ = store.create_run("ci")
        assert store.get_run(run_id[:5]).id == run_id

    def test_pipeline_hash_number_finds_the_run(self, store: Store) -> None:
        store.create_run("ci")
        run_id, _ = store.create_run("ci")
        assert store.get_run("ci#2").id == run_id

    def test_an_ambiguous_prefix_names_the_candidates(self, store: Store) -> None:
        ids = {store.create_run("ci")[0] for _ in range(40)}
        with pytest.raises(AmbiguousRun, match="matches several runs"):
            store.get_run(_shared_prefix(ids))

    @pytest.mark.parametrize("ref", ["ffffffffffff", "nosuch#7", "NOT-HEX", "ci#99"],
                             ids=["unknown-id", "unknown-pipeline", "not-an-id", "unknown-number"])
    def test_an_unknown_reference_is_a_wishstar_error_that_says_what_to_give(self, store: Store,
                                                                             ref: str) -> None:
        store.create_run("ci")
        with pytest.raises(RunNotFound, match="give a run id") as caught:
            store.get_run(ref)
        assert isinstance(caught.value, WishstarError)


def _shared_prefix(ids: set[str]) -> str:
    """A one-character prefix shared by at least two ids (40 ids over 16 first characters always have one)."""
    firsts = [i[0] for i in ids]
    return next(c for c in firsts if firsts.count(c) > 1)


class TestStatus:
    def test_an_unknown_status_is_refused(self, store: Store) -> None:
        run_id, _ = store.create_run("ci")
        with pytest.raises(InvalidStatus, match='unknown run status "done"'):
            store.set_run_status(run_id, "done")

    def test_setting_the_status_of_an_unknown_run_fails(self, store: Store) -> None:
        with pytest.raises(RunNotFound):
            store.set_run_status("0123456789ab", "failed")

    def test_timestamps_are_only_written_when_given(self, store: Store) -> None:
        run_id, _ = store.create_run("ci")
        store.set_run_status(run_id, "running", started_at=T0)
        store.set_run_status(run_id, "failed", "task build failed", finished_at=T0 + 60)
        run = store.get_run(run_id)
        assert (run.started_at, run.finished_at, run.reason) == (T0, T0 + 60, "task build failed")


class TestTasks:
    def test_upserts_update_in_place_and_keep_plan_order(self, store: Store) -> None:
        run_id, _ = store.create_run("ci")
        store.upsert_tasks(run_id, [TaskRow(name=n) for n in ("lint", "build", "test")])
        store.upsert_tasks(run_id, [TaskRow(name="test", status="failed", reason="exit 1", exit_code=1),
                                    {"name": "notify", "is_finally": True}])
        tasks = store.get_run(run_id).tasks
        assert [(t.name, t.status) for t in tasks] == [
            ("lint", "pending"), ("build", "pending"), ("test", "failed"), ("notify", "pending")]

    def test_tasks_of_an_unknown_run_are_refused(self, store: Store) -> None:
        with pytest.raises(RunNotFound):
            store.upsert_tasks("0123456789ab", [TaskRow(name="x")])

    def test_steps_are_listed_under_their_task_by_attempt(self, store: Store) -> None:
        run_id, _ = store.create_run("ci")
        store.upsert_tasks(run_id, [TaskRow(name="build")])
        store.record_step(run_id, "build", 2, "compile", exit_code=0)
        store.record_step(run_id, "build", 1, "compile", exit_code=1)
        store.record_step(run_id, "build", 1, "compile", exit_code=2, truncated=True)
        steps = store.get_run(run_id).tasks[0].steps
        seen = [(s.attempt, s.exit_code, s.truncated) for s in steps]
        assert seen == [(1, 2, True), (2, 0, False)]


class TestCancelAndDelete:
    def test_a_cancel_request_is_seen_by_the_runner(self, store: Store) -> None:
        run_id, _ = store.create_run("ci")
        assert store.cancel_requested(run_id) is False
        assert store.request_cancel(run_id[:6]) == run_id
        assert store.cancel_requested(run_id) is True

    def test_deleting_a_run_removes_its_tasks_steps_and_logs(self, store: Store) -> None:
        run_id, _ = store.create_run("ci")
        store.upsert_tasks(run_id, [TaskRow(name="build")])
        store.record_step(run_id, "build", 1, "compile")
        writer = store.logs.sink(run_id, "build", 1).open_step("compile")
        writer.write(b"hello\n")
        writer.close()
        store.delete_run(run_id)
        assert not store.logs.run_dir(run_id).exists()
        with pytest.raises(RunNotFound):
            store.get_run(run_id)


class TestOrphans:
    def test_runs_whose_process_is_gone_are_failed_with_the_reason(self, store: Store) -> None:
        dead, _ = store.create_run("ci", host="ci-1", pid=4242)
        alive, _ = store.create_run("ci", host="ci-1", pid=1)
        done, _ = store.create_run("ci", host="ci-1", pid=4242)
        store.set_run_status(done, "succeeded")
        store.upsert_tasks(dead, [TaskRow(name="build", status="running"), TaskRow(name="test")])
        reaped = store.reap_orphans(lambda host, pid: pid != 4242, now=T0)
        assert reaped == [dead]
        run = store.get_run(dead)
        assert (run.status, run.reason, run.finished_at) == (
            "failed", "the process running it (host ci-1, pid 4242) is gone", T0)
        assert [t.status for t in run.tasks] == ["failed", "cancelled"]
        assert store.get_run(alive).status == "pending"
        assert store.get_run(done).status == "succeeded"

    def test_reaping_twice_reaps_nothing_the_second_time(self, store: Store) -> None:
        store.create_run("ci", host="h", pid=7, status="running")
        assert len(store.reap_orphans(lambda h, p: False)) == 1
        assert store.reap_orphans(lambda h, p: False) == []
