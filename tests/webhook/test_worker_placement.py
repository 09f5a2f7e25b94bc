"""The server applies ``placement:`` on Kubernetes as ``wishstar run --executor kubernetes`` does: a chain is one
task, not interruptible when any member is ``interruptible: false``, and its attempt rows sit where the runner's do.

A worker whose settings say ``executor: kubernetes`` drives the run through the real store and runner; only the
executor is the scripted ``FakeExecutor`` (the Pods themselves are tests/k8s/test_server_kubernetes.py's).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.webhook.test_worker_support import add_event, make_repo, open_store, push_payload, register, settings
from wishstar.engine.compiler.types import Plan, RunContext
from wishstar.engine.executors.base import ResolvedTask
from wishstar.engine.executors.fake import FakeExecutor
from wishstar.engine.store import db
from wishstar.engine.store.api import Store
from wishstar.engine.store.models import tasks as task_rows
from wishstar.engine.store.server import Events
from wishstar.pipelines.load import compile_run, validate
from wishstar.pipelines.settings import Settings
from wishstar.tasks import Library
from wishstar.webhook.worker import Worker
from wishstar.webhook.worker_drive import row_positions

CHAIN = """name: app
placement: one-pod
tasks:
  side:
    script: "true"
  a:
    script: "true"
  b:
    needs: [a]
    interruptible: false
    script: "true"
  c:
    needs: [b]
    script: "true"
  after:
    needs: [c, side]
    script: "true"
finally:
  report:
    script: "true"
"""
GROUP = "a+b+c"


def placed_plan(text: str) -> tuple[Plan, Any]:
    loaded = validate(text, ".wishstar.yaml", Library())
    return compile_run(loaded, RunContext(run_id="r"), Library(), placement=True), loaded.pipeline


def test_a_merged_chain_is_not_interruptible_when_one_of_its_members_is_not() -> None:
    plan, _ = placed_plan(CHAIN)
    assert plan.task(GROUP).members == ("a", "b", "c")
    assert [t.name for t in plan.all_tasks() if not t.interruptible] == [GROUP]
    plan, _ = placed_plan(CHAIN.replace("    interruptible: false\n", ""))
    assert all(t.interruptible for t in plan.all_tasks())


def test_row_positions_count_the_members_of_a_merged_chain() -> None:
    plan, _ = placed_plan(CHAIN)
    positions = row_positions(plan)
    ordered = sorted(positions, key=positions.__getitem__)
    assert ordered[ordered.index(GROUP):ordered.index(GROUP) + 4] == [GROUP, "a", "b", "c"]
    assert ordered[-1] == "report" and sorted(positions.values()) == list(range(7))


def stored_positions(store: Store, run_id: str) -> dict[str, int]:
    with db.read(store.engine) as conn:
        rows = conn.execute(select(task_rows.c.name, task_rows.c.position).where(task_rows.c.run_id == run_id))
        return {name: position for name, position in rows}


def test_a_chain_on_the_server_with_kubernetes_runs_as_one_task_and_its_attempts_are_recorded_in_place(
        tmp_path: Path) -> None:
    """The attempt recorder writes a row before the runner does only when it is the first to (the store keeps
    a row's first position), so its positions are compared with the runner's on a second, fresh run."""
    repo = make_repo(tmp_path / "repo", {".wishstar.yaml": CHAIN})
    cfg: Settings = settings(tmp_path, None, executor="kubernetes")
    with open_store(cfg) as store:
        project = register(store, str(tmp_path / "repo"))
        event_id, _ = add_event(store, project, push_payload(repo.head.commit.hexsha))
        worker = Worker(store, cfg, Library(), owner="r1")
        executor = FakeExecutor()
        worker.driver.executor_for = lambda plan, ctx, cfg: executor
        asyncio.run(worker.until_idle())
        run_id = str(Events(store).get(event_id).run_id)
        run = store.get_run(run_id)
        by_runner = stored_positions(store, run_id)
        fresh, _ = store.create_run("app")
        plan, _ = placed_plan(CHAIN)
        record = worker.driver._attempt_recorder(fresh, plan)
        for task in plan.all_tasks():
            record(ResolvedTask(run_id=fresh, name=task.name, attempt=1, steps=(), results=(), results_dir=""))
        by_recorder = stored_positions(store, fresh)
    assert run.status == "succeeded", run
    assert sorted(executor.started_order) == sorted([GROUP, "side", "after", "report"])  # one attempt for a, b, c
    assert {t.name: (t.status, t.attempts) for t in run.tasks} == {
        name: ("succeeded", 1) for name in (GROUP, "a", "b", "c", "side", "after", "report")}
    assert sorted(by_runner.values()) == list(range(7))
    assert by_recorder == {name: by_runner[name] for name in (GROUP, "side", "after", "report")}
