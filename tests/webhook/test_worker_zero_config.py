"""A push to a project with no pipeline file runs the pipeline detection generates, through the same road as
``wishstar run`` (real git repository by path, the local executor and a real Go toolchain; the push payload
is GitLab's documented one from the stand-in in tests/webhook/payloads.py, since GitLab itself cannot run
here)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.webhook.test_worker_support import add_event, db_url, make_repo, open_store, push_payload, register, settings
from wishstar.engine.store.logs import LogStore
from wishstar.engine.store.server import Events
from wishstar.pipelines.load import GENERATED
from wishstar.tasks import Library
from wishstar.webhook.worker import Worker

__all__ = ["db_url"]

GO_PROJECT = {
    "go.mod": "module example.com/hello\n\ngo 1.26\n",
    "hello.go": "package hello\n\nfunc Hello() string { return \"hello\" }\n",
    "hello_test.go": ("package hello\n\nimport \"testing\"\n\nfunc TestHello(t *testing.T) {\n"
                      "\tif Hello() != \"hello\" {\n\t\tt.Fatal(\"wrong greeting\")\n\t}\n}\n"),
}


def _work(cfg, store) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(Worker(store, cfg, Library(), owner="r1").until_idle())


@pytest.mark.toolchain
def test_a_push_without_a_pipeline_file_runs_the_generated_pipeline(tmp_path: Path, db_url: str | None) -> None:
    repo = make_repo(tmp_path / "hello", GO_PROJECT)
    cfg = settings(tmp_path, db_url)
    with open_store(cfg) as store:
        project = register(store, str(tmp_path / "hello"))
        event_id, _ = add_event(store, project, push_payload(repo.head.commit.hexsha))
        _work(cfg, store)
        run = store.get_run(str(Events(store).get(event_id).run_id))
        assert run.status == "succeeded", run
        # the delivery tasks wait for a registry, which this project does not give: skipped, saying why
        assert {t.name: t.status for t in run.tasks} == {"test": "succeeded", "image": "skipped"}
        assert store.origin(run.id).file == GENERATED
    logs = LogStore(cfg.state_dir)
    text = "".join(p.read_text() for p in logs.run_dir(run.id).rglob("*.log"))
    assert "ok  \texample.com/hello" in text


def test_a_push_of_only_markdown_is_a_failed_run_saying_what_was_looked_for(tmp_path: Path, db_url: str | None
                                                                           ) -> None:
    repo = make_repo(tmp_path / "notes", {"README.md": "# notes\n", "docs/a.md": "a\n"})
    cfg = settings(tmp_path, db_url)
    with open_store(cfg) as store:
        project = register(store, str(tmp_path / "notes"))
        event_id, _ = add_event(store, project, push_payload(repo.head.commit.hexsha))
        _work(cfg, store)
        run = store.get_run(str(Events(store).get(event_id).run_id))
        assert run.status == "failed"
        assert "nothing detected" in run.reason and "README.md" in run.reason
        assert "say it by hand" in run.reason
