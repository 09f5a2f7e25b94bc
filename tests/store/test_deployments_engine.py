"""The runner's part in recording deployments (fake executor, real store on SQLite and PostgreSQL): the digest
of the image build upstream in the DAG, and one row however often a takeover stores the run again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from tests.test_runner import _plan
from wishstar.engine.compiler.types import GitContext, RunContext
from wishstar.engine.executors.base import RunEnv
from wishstar.engine.executors.fake import FakeExecutor, FakeOutcome
from wishstar.engine.resume import resume_state
from wishstar.engine.runner import Runner, RunOptions
from wishstar.engine.store import Store
from wishstar.engine.store.deployments import Deployments
from wishstar.engine.store.logs import LogStore
from wishstar.engine.store.models import deployments

NEAR, FAR, OTHER = ("sha256:" + c * 64 for c in "abc")
PIPELINE = """
    name: shop
    tasks:
      base-image:
        script: "true"
      build:
        needs: [base-image]
        script: "true"
      unrelated:
        script: "true"
      package:
        needs: [build]
        script: "true"
      deploy:
        needs: [package]
        script: "true"
      notify:
        needs: [unrelated, deploy]
        script: "true"
"""
OUTCOMES = {
    "base-image": [FakeOutcome(results={"IMAGE_DIGEST": FAR, "IMAGE_URL": "registry.local/base:1"})],
    "build": [FakeOutcome(results={"IMAGE_DIGEST": NEAR, "IMAGE_URL": "registry.local/shop:7"})],
    "unrelated": [FakeOutcome(results={"IMAGE_DIGEST": OTHER})],
    "deploy": [FakeOutcome(results={"RELEASE_NAME": "shop", "RELEASE_REVISION": "4", "RELEASE_NAMESPACE": "prod"})],
}


def _runner(store: Store, tmp_path: Path, fake: FakeExecutor, run_id: str, number: int) -> Runner:
    ctx = RunContext(run_id=run_id, number=number, git=GitContext(branch="main", commit="abc123"))
    plan = _plan(PIPELINE, ctx)
    env = RunEnv(run_id, str(tmp_path / "run"), str(tmp_path / "run"), plan.workspaces)
    return Runner(plan, ctx, fake, store, LogStore(tmp_path), env, secrets={}, base_env={},
                  options=RunOptions(concurrency=2, flush_interval=0.0, cancel_poll=0.05))


def test_the_digest_is_the_nearest_upstream_builds_and_a_takeover_adds_no_second_row(
        store: Store, tmp_path: Path) -> None:
    run_id, number = store.create_run("shop", git={"branch": "main", "commit": "abc123"})
    first = _runner(store, tmp_path, FakeExecutor(OUTCOMES), run_id, number)
    assert str(asyncio.run(first.run()).status) == "succeeded"
    [deployed] = Deployments(store).of_run(run_id)
    assert (deployed.revision, deployed.image_digest, deployed.image) == (4, NEAR, "registry.local/shop")
    assert (deployed.commit, deployed.ref) == ("abc123", "main")
    # another engine takes the run over from the store and stores every task again
    again = _runner(store, tmp_path, FakeExecutor(), run_id, number)
    asyncio.run(again.run(resume_state(again.plan, store.get_run(run_id), 0.0, reattach=True)))
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(deployments)).scalar_one() == 1


def test_two_image_builds_equally_near_with_different_digests_leave_the_digest_out(
        store: Store, tmp_path: Path) -> None:
    """Which of them was deployed cannot be known: the Helm task's own IMAGE_DIGEST is needed then."""
    run_id, number = store.create_run("shop", git={"branch": "main"})
    runner = _runner(store, tmp_path, FakeExecutor(OUTCOMES), run_id, number)
    runner.plan = _plan(PIPELINE.replace("needs: [package]", "needs: [build, unrelated]"), runner.ctx)
    asyncio.run(runner.run())
    [deployed] = Deployments(store).of_run(run_id)
    assert deployed.revision == 4 and deployed.image_digest is None
