"""Deployments recorded with a Helm task's success, and the three questions asked of them (SQLite and
PostgreSQL): what is deployed for a project, a release's history, where a digest runs."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from sqlalchemy import func, insert, select

from wishstar.engine.store import Store, TaskRow
from wishstar.engine.store.deployments import Deployments
from wishstar.engine.store.models import deployments, run_leases
from wishstar.engine.store.server import Projects

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def helm_results(release: str = "shop", revision: str = "1", **extra: str) -> dict[str, str]:
    return {"RELEASE_NAME": release, "RELEASE_REVISION": revision, "RELEASE_NAMESPACE": "prod",
            "CHART": "app", "CHART_VERSION": "0.3.0", **extra}


def deploy(store: Store, results: Mapping[str, str], *, pipeline: str = "shop", status: str = "succeeded",
           task: str = "deploy", upstream: Mapping[str, Mapping[str, str]] | None = None,
           commit: str = "c0ffee", finished_at: float = 1_700_000_000.0) -> str:
    run_id, _ = store.create_run(pipeline, git={"branch": "main", "commit": commit}, status="running")
    store.upsert_tasks(run_id, [TaskRow(name=task, status=status, results=results, finished_at=finished_at)],
                       upstream=upstream)
    return run_id


def rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(deployments)).scalar_one())


def test_a_succeeded_helm_task_records_its_release_revision_digest_and_commit(store: Store) -> None:
    run_id = deploy(store, helm_results(IMAGE_DIGEST=DIGEST_A, IMAGE_URL="registry.local/shop/api:1.2"))
    [found] = Deployments(store).of_run(run_id)
    assert (found.project, found.namespace, found.release, found.revision) == ("shop", "prod", "shop", 1)
    assert (found.chart, found.chart_version, found.image, found.image_digest) == (
        "app", "0.3.0", "registry.local/shop/api", DIGEST_A)
    assert (found.commit, found.ref, found.pipeline, found.run_number, found.task) == (
        "c0ffee", "main", "shop", 1, "deploy")
    assert found.deployed_at == 1_700_000_000.0 and found.status == "deployed"


def test_tasks_that_did_not_succeed_or_have_no_release_results_record_nothing(store: Store) -> None:
    deploy(store, helm_results(), status="failed")
    deploy(store, {"IMAGE_DIGEST": DIGEST_A}, task="build")
    deploy(store, {"RELEASE_NAME": "shop"})
    assert rows(store) == 0


def test_storing_the_same_task_end_again_records_one_deployment(store: Store) -> None:
    """The runner's flushes, a takeover and a resume all store a task's end again: one row all the same."""
    run_id = deploy(store, helm_results(IMAGE_DIGEST=DIGEST_A))
    end = TaskRow(name="deploy", status="succeeded", results=helm_results(IMAGE_DIGEST=DIGEST_A))
    store.upsert_tasks(run_id, [end])
    store.record_steps(run_id, [], [end])
    assert rows(store) == 1
    store.upsert_tasks(run_id, [TaskRow(name="deploy", status="succeeded", results=helm_results(revision="2"))])
    assert [d.revision for d in Deployments(store).of_run(run_id)] == [1, 2], "a re-run's new revision counts"


def test_what_is_deployed_for_a_project_is_the_last_revision_of_each_release(store: Store) -> None:
    deploy(store, helm_results("shop", "1", IMAGE_DIGEST=DIGEST_A))
    deploy(store, helm_results("shop", "2", IMAGE_DIGEST=DIGEST_B), commit="beef")
    deploy(store, helm_results("shop-worker", "1", IMAGE_DIGEST=DIGEST_A))
    deploy(store, helm_results("other", "7"), pipeline="other")
    current = Deployments(store).current("shop")
    assert [(c.release, c.revision, c.image_digest, c.commit, c.current) for c in current] == [
        ("shop", 2, DIGEST_B, "beef", True), ("shop-worker", 1, DIGEST_A, "c0ffee", True)]
    assert [c.release for c in Deployments(store).current("shop", release="shop-worker")] == ["shop-worker"]
    assert Deployments(store).current("shop", namespace="staging") == []
    assert Deployments(store).current("nobody") == []


def test_a_release_installed_again_after_an_uninstall_is_current_at_revision_one(store: Store) -> None:
    deploy(store, helm_results("shop", "5"))
    deploy(store, helm_results("shop", "1"))
    assert [c.revision for c in Deployments(store).current("shop")] == [1]


def test_a_releases_history_is_newest_first_with_run_digest_and_commit(store: Store) -> None:
    first = deploy(store, helm_results("shop", "1", IMAGE_DIGEST=DIGEST_A), commit="one")
    second = deploy(store, helm_results("shop", "2", IMAGE_DIGEST=DIGEST_B), commit="two")
    deploy(store, helm_results("shop", "1", RELEASE_NAMESPACE="staging"))
    history = Deployments(store).history("shop", namespace="prod")
    assert [(h.revision, h.run_id, h.image_digest, h.commit, h.current) for h in history] == [
        (2, second, DIGEST_B, "two", True), (1, first, DIGEST_A, "one", False)]
    assert len(Deployments(store).history("shop", namespace="prod", limit=1)) == 1


def test_where_a_digest_is_deployed_says_which_are_still_current(store: Store) -> None:
    deploy(store, helm_results("shop", "1", IMAGE_DIGEST=DIGEST_A))
    deploy(store, helm_results("shop", "1", RELEASE_NAMESPACE="staging", IMAGE_DIGEST=DIGEST_A))
    deploy(store, helm_results("shop", "2", IMAGE_DIGEST=DIGEST_B))
    found = Deployments(store).where(DIGEST_A)
    assert [(f.namespace, f.revision, f.current) for f in found] == [("staging", 1, True), ("prod", 1, False)]
    assert Deployments(store).where("sha256:" + "c" * 64) == []


def test_the_digest_comes_from_the_task_first_then_its_image_url_then_the_upstream_build(store: Store) -> None:
    upstream = {"deploy": {"IMAGE_DIGEST": DIGEST_B, "IMAGE_URL": "registry.local/built:9"}}
    own = deploy(store, helm_results(IMAGE_DIGEST=DIGEST_A), upstream=upstream)
    in_url = deploy(store, helm_results(IMAGE_URL=f"registry.local/shop@{DIGEST_A}"), upstream=upstream)
    from_build = deploy(store, helm_results(), upstream=upstream)
    found = {run: Deployments(store).of_run(run)[0] for run in (own, in_url, from_build)}
    assert (found[own].image_digest, found[own].image) == (DIGEST_A, "registry.local/built")
    assert (found[in_url].image_digest, found[in_url].image) == (DIGEST_A, "registry.local/shop")
    assert (found[from_build].image_digest, found[from_build].image) == (DIGEST_B, "registry.local/built")


@pytest.mark.parametrize(("results", "said"), [
    (helm_results(revision="three"), 'RELEASE_REVISION "three" is not a Helm revision'),
    (helm_results(revision="0"), 'RELEASE_REVISION "0" is not a Helm revision'),
    (helm_results(revision="\u0663"), "is not a Helm revision"),
    (helm_results(revision="99999999999"), "is not a Helm revision"),
    (helm_results(release="x" * 300), "RELEASE_NAME is 300 characters long (at most 253)"),
    (helm_results(release=""), "RELEASE_NAME is empty"),
    (helm_results(RELEASE_NAMESPACE="a b"), 'RELEASE_NAMESPACE is "a b", with spaces'),
])
def test_a_release_that_cannot_be_recorded_is_a_warning_on_the_run_not_a_failure(
        store: Store, results: dict[str, str], said: str) -> None:
    run_id = deploy(store, results)
    task = store.get_run(run_id).tasks[0]
    assert task.status == "succeeded" and task.reason is not None
    assert task.reason.startswith("deployment not recorded: ") and said in task.reason, task.reason
    assert rows(store) == 0


def test_a_bad_optional_value_is_left_out_with_a_warning_and_the_rest_recorded(store: Store) -> None:
    run_id = deploy(store, helm_results(CHART_VERSION="1" * 500, IMAGE_DIGEST="latest"))
    [found] = Deployments(store).of_run(run_id)
    assert found.revision == 1 and found.chart_version is None and found.image_digest is None
    reason = store.get_run(run_id).tasks[0].reason or ""
    assert "deployment recorded without its chart version: CHART_VERSION is 500 characters long" in reason
    assert 'IMAGE_DIGEST "latest" is not an image digest' in reason
    store.upsert_tasks(run_id, [TaskRow(name="deploy", status="succeeded", reason=reason,
                                        results=helm_results(CHART_VERSION="1" * 500, IMAGE_DIGEST="latest"))])
    assert store.get_run(run_id).tasks[0].reason == reason, "a resumed run's row is not warned about twice"


def test_a_deleted_run_keeps_its_deployments_in_the_history(store: Store) -> None:
    run_id = deploy(store, helm_results(IMAGE_DIGEST=DIGEST_A))
    store.delete_run(run_id)
    [kept] = Deployments(store).current("shop")
    assert kept.run_id is None and kept.pipeline == "shop" and kept.run_number == 1


def test_a_server_runs_deployment_belongs_to_its_project_and_limited_callers_see_only_theirs(store: Store) -> None:
    project = Projects(store).add(gitlab_url="https://gitlab.example.com", gitlab_id=5, path="group/shop",
                                  hook_secret="s", now=1.0)
    run_id, _ = store.create_run("shop", git={"branch": "main"}, status="running")
    with store.engine.begin() as conn:
        conn.execute(insert(run_leases).values(run_id=run_id, project_id=project.id, state="active"))
    store.upsert_tasks(run_id, [TaskRow(name="deploy", status="succeeded", results=helm_results())])
    deploy(store, helm_results(), pipeline="group/shop")  # a `wishstar run` whose pipeline has that name
    listed = Deployments(store)
    assert [c.run_id for c in listed.current("group/shop", projects={"group/shop"})] == [run_id]
    assert listed.current("group/shop", projects={"group/other"}) == []
    assert len(listed.history("shop", namespace="prod", projects={"group/shop"})) == 1
    assert len(listed.history("shop", namespace="prod")) == 2
