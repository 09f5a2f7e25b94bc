"""Commit statuses and merge-request notes, from a run's life to what GitLab receives.

GitLab itself cannot run here: ``tests/gitlab_standin.py`` is a real HTTP server that follows GitLab's
documented REST API (commit statuses with their transition rule, merge-request notes, 401 on a bad token) and
can fail with 500 or hang. These tests assert the exact sequence of statuses each commit receives. Time is a
fake clock handed to the sender; only the client timeout in the hang test is real time (0.3 s).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests import gitlab_standin
from tests.gitlab_standin import StandIn
from wishstar.engine.store import Store, shape
from wishstar.engine.store.outbox import Outbox
from wishstar.engine.store.server import Project, Projects
from wishstar.pipelines.settings import Settings
from wishstar.webhook import statuses
from wishstar.webhook.outbox_worker import Sender, run_outbox
from wishstar.webhook.statuses import describe_run, on_run_finished, on_run_queued, on_run_started

SHA_A = "a" * 40
SHA_B = "b" * 40
PUBLIC = "https://ci.example.com"
gitlab = gitlab_standin.gitlab


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with Store.open(None, tmp_path / "state") as opened:
        yield opened


def _project(store: Store, gl: StandIn, **options: bool) -> Project:
    return Projects(store).add(gitlab_url=gl.url, gitlab_id=42, path="group/app", hook_secret="s",
                               api_token=gl.token, now=0.0, **options)


def _run(run_id: str, sha: str, status: str = "pending", **extra: Any) -> dict[str, Any]:
    run = {"id": run_id, "pipeline": "build", "number": 3, "status": status, "reason": None,
           "git": {"commit": sha}, "started_at": None, "finished_at": None, "tasks": []}
    return {**run, **extra}


def _task(name: str, status: str, took: float = 4.0, exit_code: int | None = None) -> dict[str, Any]:
    return {"name": name, "status": status, "reason": None, "exit_code": exit_code,
            "started_at": "2026-01-01T00:00:00.000Z", "finished_at": f"2026-01-01T00:00:{took:06.3f}Z"}


def _life(outbox: Outbox, project: Project, run: dict[str, Any], final: str, now: float) -> None:
    on_run_queued(outbox, project, run, public_url=PUBLIC, now=now)
    on_run_started(outbox, project, {**run, "status": "running"}, public_url=PUBLIC, now=now)
    on_run_finished(outbox, project, {**run, "status": final}, public_url=PUBLIC, now=now)


def _drain(sender: Sender, clock: Clock, rounds: int = 50) -> None:
    for _ in range(rounds):
        if not sender.send_due(clock()) and not sender.outbox.list(state="pending"):
            return
        clock.now += 1.0
    raise AssertionError(f"outbox not drained: {sender.outbox.counts()}")


def test_statuses_of_interleaved_commits_reach_gitlab_in_order_per_commit(store: Store, gitlab: StandIn) -> None:
    project, outbox = _project(store, gitlab), Outbox(store)
    a, b = _run("ra", SHA_A), _run("rb", SHA_B)
    on_run_queued(outbox, project, a, public_url=PUBLIC, now=1)
    on_run_queued(outbox, project, b, public_url=PUBLIC, now=1)
    on_run_started(outbox, project, b, public_url=PUBLIC, now=2)
    on_run_started(outbox, project, a, public_url=PUBLIC, now=2)
    on_run_finished(outbox, project, {**b, "status": "failed"}, public_url=PUBLIC, now=3)
    on_run_finished(outbox, project, {**a, "status": "succeeded"}, public_url=PUBLIC, now=3)
    _drain(Sender(store, Settings(), owner="r1"), Clock())
    assert gitlab.states(SHA_A, "wishstar/build") == ["pending", "running", "success"]
    assert gitlab.states(SHA_B, "wishstar/build") == ["pending", "running", "failed"]
    first = gitlab.statuses[0]
    assert first["target_url"] == f"{PUBLIC}/runs/ra" and first["project_id"] == 42


def test_a_repeated_state_is_a_no_op_not_a_failure(store: Store, gitlab: StandIn) -> None:
    project, outbox = _project(store, gitlab), Outbox(store)
    run = _run("r1", SHA_A)
    on_run_started(outbox, project, run, public_url=PUBLIC, now=1)
    on_run_started(outbox, project, run, public_url=PUBLIC, now=1)
    on_run_finished(outbox, project, {**run, "status": "succeeded"}, public_url=PUBLIC, now=2)
    _drain(Sender(store, Settings(), owner="r1"), Clock())
    refused = [c for c in gitlab.calls_to("POST", "/statuses/") if c.status == 400]
    assert len(refused) == 1
    assert gitlab.states(SHA_A) == ["running", "success"]
    assert outbox.counts() == {"sent": 3}


def test_a_gitlab_outage_then_recovery_delivers_everything_in_order(store: Store, gitlab: StandIn) -> None:
    project, outbox = _project(store, gitlab), Outbox(store)
    _life(outbox, project, _run("ra", SHA_A), "succeeded", now=1)
    _life(outbox, project, _run("rb", SHA_B), "cancelled", now=1)
    gitlab.fail(7)
    clock = Clock()
    sender = Sender(store, Settings(), owner="r1")
    sender.send_due(clock())
    assert gitlab.statuses == []
    assert {i.attempts for i in outbox.list(state="pending")} == {0, 1}
    clock.now += 2.0
    _drain(sender, clock, rounds=400)
    assert gitlab.states(SHA_A) == ["pending", "running", "success"]
    assert gitlab.states(SHA_B) == ["pending", "running", "canceled"]
    assert len([c for c in gitlab.calls if c.status == 500]) == 7


def test_a_hanging_gitlab_times_out_and_the_status_is_retried(store: Store, gitlab: StandIn) -> None:
    project, outbox = _project(store, gitlab), Outbox(store)
    on_run_queued(outbox, project, _run("r1", SHA_A), public_url=PUBLIC, now=1)
    sender = Sender(store, Settings(), owner="r1", timeout_s=0.3)
    gitlab.hang()
    clock = Clock()
    sender.send_due(clock())
    [item] = outbox.list(state="pending")
    assert item.attempts == 1 and "did not answer within 0.3s" in (item.last_error or "")
    gitlab.release()
    clock.now += 2.0
    _drain(sender, clock)
    assert gitlab.states(SHA_A) == ["pending"]  # the hung request landed late; the retry was a no-op 400


def test_a_rejected_token_kills_the_item_and_the_error_never_holds_the_token(store: Store, gitlab: StandIn) -> None:
    project, outbox = _project(store, gitlab), Outbox(store)
    on_run_queued(outbox, project, _run("r1", SHA_A), public_url=PUBLIC, now=1)
    gitlab.token = "a-rotated-token"
    Sender(store, Settings(), owner="r1").send_due(1000.0)
    [item] = outbox.list(state="dead")
    assert "401" in (item.last_error or "") and project.api_token not in (item.last_error or "")


def test_a_status_per_task_when_the_project_asks_for_it(store: Store, gitlab: StandIn) -> None:
    project, outbox = _project(store, gitlab, statuses_per_task=True), Outbox(store)
    tasks = [_task("test", "succeeded"), _task("lint", "failed", exit_code=1), _task("deploy", "skipped")]
    run = _run("r1", SHA_A, tasks=tasks)
    _life(outbox, project, run, "failed", now=1)
    _drain(Sender(store, Settings(), owner="r1"), Clock())
    assert gitlab.states(SHA_A, "wishstar/build") == ["pending", "running", "failed"]
    assert gitlab.states(SHA_A, "wishstar/build/test") == ["pending", "success"]
    assert gitlab.states(SHA_A, "wishstar/build/lint") == ["pending", "failed"]
    assert gitlab.states(SHA_A, "wishstar/build/deploy") == ["pending", "canceled"]


@pytest.mark.parametrize(("run", "expected"), [
    (_run("r", SHA_A, "succeeded", started_at=0.0, finished_at=72.0), "passed in 1m 12s"),
    (_run("r", SHA_A, "failed", started_at=0.0, finished_at=40.0,
          tasks=[_task("unit", "failed", exit_code=2), _task("e2e", "failed")]),
     "failed: unit (exit 2) and 1 more after 40s"),
    (_run("r", SHA_A, "cancelled", started_at=0.0, finished_at=3.0), "canceled after 3s"),
    (_run("r", SHA_A, "failed", reason="cannot fetch https://oauth2:glpat-SECRET@gitlab.example.com/a.git\nmore"),
     "failed: cannot fetch https://gitlab.example.com/a.git"),
], ids=["success", "failed-task", "canceled", "reason-without-credentials"])
def test_the_description_is_short_and_holds_no_credentials(run: dict[str, Any], expected: str) -> None:
    assert describe_run(run) == expected


def test_the_description_fits_in_gitlabs_255_characters() -> None:
    run = _run("r", SHA_A, "failed", reason="x" * 1000)
    assert len(describe_run(run)) == 255


def test_the_mr_note_is_created_once_and_updated_in_place_on_a_rerun(store: Store, gitlab: StandIn) -> None:
    project, outbox = _project(store, gitlab, mr_notes=True), Outbox(store)
    sender, clock = Sender(store, Settings(), owner="r1"), Clock()
    first = _run("r1", SHA_A, "failed", tasks=[_task("test", "failed", exit_code=1)], git={"commit": SHA_A})
    on_run_finished(outbox, project, first, public_url=PUBLIC, now=1, mr_iid=7)
    _drain(sender, clock)
    again = _run("r2", SHA_A, "succeeded", tasks=[_task("test", "succeeded")], git={"commit": SHA_A, "mr_iid": "7"})
    on_run_finished(outbox, project, again, public_url=PUBLIC, now=2)
    _drain(sender, clock)
    assert len(gitlab.calls_to("POST", "/merge_requests/7/notes")) == 1
    assert len(gitlab.calls_to("PUT", "/merge_requests/7/notes/")) == 1
    [(note_id, body)] = gitlab.notes[(42, 7)].items()
    assert outbox.note_id(project.id, 7, "build") == note_id
    assert "| `test` | ✅ succeeded | 4s |" in body and f"{PUBLIC}/runs/r2" in body


def test_a_deleted_mr_note_is_recreated(store: Store, gitlab: StandIn) -> None:
    project, outbox = _project(store, gitlab, mr_notes=True), Outbox(store)
    sender, clock = Sender(store, Settings(), owner="r1"), Clock()
    run = _run("r1", SHA_A, "succeeded", git={"commit": SHA_A, "mr_iid": 7})
    on_run_finished(outbox, project, run, public_url=PUBLIC, now=1)
    _drain(sender, clock)
    gitlab.notes[(42, 7)].clear()
    on_run_finished(outbox, project, run, public_url=PUBLIC, now=2)
    _drain(sender, clock)
    assert len(gitlab.notes[(42, 7)]) == 1
    assert outbox.note_id(project.id, 7, "build") in gitlab.notes[(42, 7)]


def test_no_mr_note_unless_the_project_asks_for_one(store: Store, gitlab: StandIn) -> None:
    project, outbox = _project(store, gitlab), Outbox(store)
    on_run_finished(outbox, project, _run("r1", SHA_A, "succeeded"), public_url=PUBLIC, now=1, mr_iid=7)
    assert [i.kind for i in outbox.list()] == ["status"]


def test_no_mr_note_for_a_run_that_built_no_merge_request(store: Store, gitlab: StandIn) -> None:
    project, outbox = _project(store, gitlab, mr_notes=True), Outbox(store)
    run = _run("r1", SHA_A, "succeeded", git={"commit": SHA_A, "mr_iid": ""})
    on_run_finished(outbox, project, run, public_url=PUBLIC, now=1)
    assert [i.kind for i in outbox.list()] == ["status"]


def test_the_sender_loop_delivers_and_stops_when_asked(store: Store, gitlab: StandIn) -> None:
    project, outbox = _project(store, gitlab), Outbox(store)
    _life(outbox, project, _run("r1", SHA_A), "succeeded", now=1)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(run_outbox(store, Settings(), stop, Clock(), owner="r1", poll_s=0.01))
        for _ in range(500):
            if outbox.counts() == {"sent": 3}:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(loop, timeout=5)

    asyncio.run(main())
    assert gitlab.states(SHA_A) == ["pending", "running", "success"]


def test_a_status_name_is_wishstar_slash_pipeline() -> None:
    assert statuses.status_name("build") == "wishstar/build"
    assert statuses.status_name("build", "test") == "wishstar/build/test"


def test_a_stored_run_as_the_workers_pass_it_queues_its_status(store: Store, gitlab: StandIn) -> None:
    project, outbox = _project(store, gitlab, mr_notes=True), Outbox(store)
    run_id, _ = store.create_run("build", git={"commit": SHA_A, "mr_iid": "7"}, event="merge_request",
                                 created_at=1.0)
    on_run_queued(outbox, project, shape.run_dict(store.get_run(run_id)), public_url=PUBLIC, now=1)
    on_run_finished(outbox, project, {**shape.run_dict(store.get_run(run_id)), "status": "succeeded"},
                    public_url=PUBLIC, now=2)
    _drain(Sender(store, Settings(), owner="r1"), Clock())
    assert gitlab.states(SHA_A, "wishstar/build") == ["pending", "success"]
    assert len(gitlab.notes[(42, 7)]) == 1
