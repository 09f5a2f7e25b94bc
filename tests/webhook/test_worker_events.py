"""Workers turn stored events into runs: real git repositories (by path), the local executor, SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.webhook.test_worker_support import (
    add_event,
    commit,
    db_url,
    make_repo,
    marker_pipeline,
    open_store,
    push_payload,
    read_markers,
    register,
    settings,
    tag_payload,
)
from wishstar.engine.store.server import Events
from wishstar.tasks import Library
from wishstar.webhook.worker import Worker

__all__ = ["db_url"]


def work(cfg, store) -> Worker:  # type: ignore[no-untyped-def]
    worker = Worker(store, cfg, Library(), owner="r1")
    asyncio.run(worker.until_idle())
    return worker


def test_an_event_for_a_valid_pipeline_becomes_a_succeeded_run(tmp_path: Path, db_url: str | None) -> None:
    markers = tmp_path / "markers"
    repo = make_repo(tmp_path / "repo", {".wishstar.yaml": marker_pipeline(markers)})
    cfg = settings(tmp_path, db_url)
    with open_store(cfg) as store:
        project = register(store, str(tmp_path / "repo"))
        event_id, _ = add_event(store, project, push_payload(repo.head.commit.hexsha))
        work(cfg, store)
        event = Events(store).get(event_id)
        assert event.status == "done" and event.run_id
        run = store.get_run(event.run_id)
        assert run.status == "succeeded", run
        assert run.git["commit"] == repo.head.commit.hexsha and run.git["branch"] == "main"
    assert [m[1:4] for m in read_markers(markers)] == [["build", "1", "r1"], ["build", "1", "r1"]]


def test_an_invalid_pipeline_file_is_a_failed_run_with_the_problems(tmp_path: Path, db_url: str | None) -> None:
    repo = make_repo(tmp_path / "repo", {".wishstar.yaml": "name: app\ntasks:\n  a:\n    needs: [nope]\n"
                                                           "    script: echo hi\n"})
    cfg = settings(tmp_path, db_url)
    with open_store(cfg) as store:
        project = register(store, str(tmp_path / "repo"))
        event_id, _ = add_event(store, project, push_payload(repo.head.commit.hexsha))
        work(cfg, store)
        event = Events(store).get(event_id)
        run = store.get_run(str(event.run_id))
        assert event.status == "done"
        assert run.status == "failed" and run.pipeline == "app"
        assert "nope" in run.reason


def test_a_commit_that_cannot_be_fetched_is_a_failed_run(tmp_path: Path, db_url: str | None) -> None:
    make_repo(tmp_path / "repo", {".wishstar.yaml": marker_pipeline(tmp_path / "m")})
    cfg = settings(tmp_path, db_url)
    with open_store(cfg) as store:
        project = register(store, str(tmp_path / "repo"))
        event_id, _ = add_event(store, project, push_payload("1" * 40))
        work(cfg, store)
        run = store.get_run(str(Events(store).get(event_id).run_id))
        assert run.status == "failed"
        assert "cannot fetch commit 1111111111111111111111111111111111111111" in run.reason


def test_an_on_rule_that_does_not_match_skips_the_event_with_the_reason(tmp_path: Path, db_url: str | None
                                                                        ) -> None:
    pipeline = marker_pipeline(tmp_path / "m", extra="on:\n  push:\n    branches: [release/*]\n")
    repo = make_repo(tmp_path / "repo", {".wishstar.yaml": pipeline})
    cfg = settings(tmp_path, db_url)
    with open_store(cfg) as store:
        project = register(store, str(tmp_path / "repo"))
        event_id, _ = add_event(store, project, push_payload(repo.head.commit.hexsha))
        work(cfg, store)
        event = Events(store).get(event_id)
        assert event.status == "skipped" and event.run_id is None
        assert 'branch "main" matches none of on.push.branches' in str(event.reason)
        assert store.list_runs() == []


def test_a_tag_event_builds_its_checkout_sha_not_the_branch_tip(tmp_path: Path) -> None:
    out = tmp_path / "built"
    pipeline = f"name: app\ntasks:\n  show:\n    script: cat version.txt >> {out}\n"
    repo = make_repo(tmp_path / "repo", {".wishstar.yaml": pipeline, "version.txt": "v1\n"})
    tagged = repo.head.commit.hexsha
    repo.create_tag("v1")
    commit(repo, {"version.txt": "tip\n"}, "later")
    cfg = settings(tmp_path, None)
    with open_store(cfg) as store:
        project = register(store, str(tmp_path / "repo"))
        event_id, _ = add_event(store, project, tag_payload(tagged, "v1"), header="Tag Push Hook")
        work(cfg, store)
        run = store.get_run(str(Events(store).get(event_id).run_id))
        assert run.status == "succeeded" and run.git["tag"] == "v1" and run.git["commit"] == tagged
    assert out.read_text() == "v1\n"


def test_duplicate_deliveries_and_two_workers_make_one_run(tmp_path: Path, db_url: str | None) -> None:
    markers = tmp_path / "markers"
    repo = make_repo(tmp_path / "repo", {".wishstar.yaml": marker_pipeline(markers)})
    cfg = settings(tmp_path, db_url)
    with open_store(cfg) as store, open_store(cfg) as other:
        project = register(store, str(tmp_path / "repo"))
        payload = push_payload(repo.head.commit.hexsha)
        first, dup1 = add_event(store, project, payload, key="delivery-1")
        second, dup2 = add_event(other, project, payload, key="delivery-1")
        assert (first, dup1, dup2) == (second, False, True)

        async def both() -> None:
            a = Worker(store, cfg, Library(), owner="a")
            b = Worker(other, cfg, Library(), owner="b")
            await asyncio.gather(a.until_idle(), b.until_idle())

        asyncio.run(both())
        assert len(store.list_runs()) == 1
        assert store.list_runs()[0].status == "succeeded"
    assert len([m for m in read_markers(markers) if m[-1] == "start"]) == 1


def test_an_event_stored_before_a_restart_is_run_by_a_worker_started_later(tmp_path: Path, db_url: str | None
                                                                           ) -> None:
    markers = tmp_path / "markers"
    repo = make_repo(tmp_path / "repo", {".wishstar.yaml": marker_pipeline(markers)})
    cfg = settings(tmp_path, db_url)
    with open_store(cfg) as receiver:  # the receiver stores the event, then the process goes away
        project = register(receiver, str(tmp_path / "repo"))
        event_id, _ = add_event(receiver, project, push_payload(repo.head.commit.hexsha))
    with open_store(cfg) as store:
        work(cfg, store)
        run = store.get_run(str(Events(store).get(event_id).run_id))
        assert run.status == "succeeded"
