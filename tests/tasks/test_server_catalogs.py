"""The server's runs: git catalogs resolved again for each run a replica records, the commit recorded with it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.tasks.catalogs import task_text
from tests.webhook.test_worker_support import (
    add_event,
    commit,
    db_url,
    make_repo,
    open_store,
    push_payload,
    register,
    settings,
)
from wishstar.engine.store.server import Events
from wishstar.pipelines.catalogs import open_library
from wishstar.webhook.worker import Worker

__all__ = ["db_url"]

PIPELINE = "name: app\ntasks:\n  hello:\n    uses: greet\n    with: {who: world}\n"


def test_each_server_run_reads_the_catalog_commit_of_its_time(tmp_path: Path, db_url: str | None) -> None:
    catalog = make_repo(tmp_path / "team", {"greet/1/greet.yaml": task_text("greet", "1")})
    first = catalog.head.commit.hexsha
    url = (tmp_path / "team").as_uri()
    app = make_repo(tmp_path / "repo", {".wishstar.yaml": PIPELINE})
    cfg = settings(tmp_path, db_url, catalogs=[url])
    with open_store(cfg) as store:
        project = register(store, str(tmp_path / "repo"))
        worker = Worker(store, cfg, open_library(cfg), owner="r1")  # as `wishstar serve` builds it
        one, _ = add_event(store, project, push_payload(app.head.commit.hexsha))
        asyncio.run(worker.until_idle())
        second = commit(catalog, {"greet/2/greet.yaml": task_text("greet", "2")}, "greet 2")
        sha = commit(app, {"app.py": "print(1)\n"}, "change")
        two, _ = add_event(store, project, push_payload(sha, before=app.head.commit.parents[0].hexsha))
        asyncio.run(worker.until_idle())
        runs = [store.get_run(str(Events(store).get(e).run_id)) for e in (one, two)]
    assert [r.status for r in runs] == ["succeeded", "succeeded"]
    assert [r.git["library"]["catalogs"][0]["commit"] for r in runs] == [first, second]
    assert [[t["task"] for t in r.git["library"]["tasks"]] for r in runs] == [["greet@1"], ["greet@2"]]
