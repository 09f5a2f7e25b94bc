"""Concurrency groups across runs: a newer run cancels the older one (never a running `interruptible: false`
task) or waits for it. One worker with two run slots, the local executor, SQLite."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.webhook.test_worker_support import (
    add_event,
    commit,
    make_repo,
    open_store,
    push_payload,
    read_markers,
    register,
    settings,
)
from wishstar.engine.status import ENDED_RUN_STATUSES
from wishstar.engine.store.api import Store
from wishstar.engine.store.server import Events, Project
from wishstar.tasks import Library
from wishstar.webhook.worker import Worker


def pipeline(markers: Path, newer: str, interruptible: bool) -> str:
    line = 'echo "$WISHSTAR_RUN_ID $WISHSTAR_TASK'
    return f"""name: app
concurrency:
  group: "'deploy-' + git.branch"
  newer: {newer}
tasks:
  deploy:
    interruptible: {str(interruptible).lower()}
    script: |
      {line} start $(date +%s.%N)" >> {markers}
      sleep 1.5
      {line} end $(date +%s.%N)" >> {markers}
  after:
    needs: [deploy]
    script: |
      {line} start $(date +%s.%N)" >> {markers}
"""


async def two_events(store: Store, worker: Worker, project: Project, repo_sha: list[str], markers: Path
                     ) -> list[dict]:  # type: ignore[type-arg]
    stop = asyncio.Event()
    serving = asyncio.create_task(worker.serve(stop))
    first, _ = add_event(store, project, push_payload(repo_sha[0]))
    while not any(m[1] == "deploy" for m in read_markers(markers)):
        await asyncio.sleep(0.05)
    second, _ = add_event(store, project, push_payload(repo_sha[1], before=repo_sha[0]))
    runs: list[dict] = []  # type: ignore[type-arg]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ids = [Events(store).get(e).run_id for e in (first, second)]
        runs = [store.get_run(i) for i in ids if i]
        if len(runs) == 2 and all(r.status in ENDED_RUN_STATUSES for r in runs):
            break
        await asyncio.sleep(0.1)
    stop.set()
    await serving
    return runs


def setup(tmp_path: Path, newer: str, interruptible: bool) -> tuple[Path, list[str]]:
    markers = tmp_path / "markers"
    repo = make_repo(tmp_path / "repo", {".wishstar.yaml": pipeline(markers, newer, interruptible)})
    shas = [repo.head.commit.hexsha, commit(repo, {"app.py": "x = 2\n"}, "second")]
    return markers, shas


def test_a_newer_run_cancels_the_older_but_lets_its_non_interruptible_task_finish(tmp_path: Path) -> None:
    markers, shas = setup(tmp_path, "cancel", interruptible=False)
    cfg = settings(tmp_path, None)
    with open_store(cfg) as store:
        project = register(store, str(tmp_path / "repo"))
        older, newer = asyncio.run(two_events(store, Worker(store, cfg, Library(), owner="r1"), project, shas,
                                              markers))
    assert older.status == "cancelled" and newer.status == "succeeded"
    tasks = {t.name: t for t in older.tasks}
    assert tasks["deploy"].status == "succeeded"  # finished, not killed mid-way
    assert tasks["after"].status == "skipped"  # nothing new started
    seen = [(m[0], m[1], m[2]) for m in read_markers(markers)]
    assert (older.id, "deploy", "end") in seen and (older.id, "after", "start") not in seen
    older_end = next(float(m[3]) for m in read_markers(markers) if m[0] == older.id and m[2] == "end")
    newer_start = next(float(m[3]) for m in read_markers(markers) if m[0] == newer.id and m[2] == "start")
    assert newer_start >= older_end  # limit 1: the newer run waited for the older one to end


def test_an_interruptible_task_of_a_superseded_run_is_cancelled(tmp_path: Path) -> None:
    markers, shas = setup(tmp_path, "cancel", interruptible=True)
    cfg = settings(tmp_path, None)
    with open_store(cfg) as store:
        project = register(store, str(tmp_path / "repo"))
        older, newer = asyncio.run(two_events(store, Worker(store, cfg, Library(), owner="r1"), project, shas,
                                              markers))
    assert older.status == "cancelled" and newer.status == "succeeded"
    assert {t.name: t.status for t in older.tasks}["deploy"] == "cancelled"
    assert "superseded" not in str(newer.reason)


def test_with_newer_queue_the_second_run_waits_for_the_first(tmp_path: Path) -> None:
    markers, shas = setup(tmp_path, "queue", interruptible=True)
    cfg = settings(tmp_path, None)
    with open_store(cfg) as store:
        project = register(store, str(tmp_path / "repo"))
        first, second = asyncio.run(two_events(store, Worker(store, cfg, Library(), owner="r1"), project, shas,
                                               markers))
    assert first.status == second.status == "succeeded"
    marks = read_markers(markers)
    first_last = max(float(m[3]) for m in marks if m[0] == first.id)
    second_first = min(float(m[3]) for m in marks if m[0] == second.id)
    assert second_first >= first_last
