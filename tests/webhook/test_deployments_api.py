"""``/api/projects/{project}/deployments``, ``/api/deployments`` and ``/api/runs/{ref}/deployments`` on the real
server (SQLite and PostgreSQL), and ``wishstar deployments --server`` through them: the answers, and who may
ask (the ``read`` scope on the project)."""

from __future__ import annotations

import json

from sqlalchemy import insert

from tests.webhook.conftest import Live
from tests.webhook.test_remote_cli import SQLITE_ONLY, wishstar
from wishstar.engine.store.api import TaskRow
from wishstar.engine.store.models import run_leases

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
SHOP, OTHER = "group/shop", "group/other"


def _deploy(live: Live, project_id: int | None, release: str, revision: int, digest: str,
            namespace: str = "prod", pipeline: str = "shop") -> str:
    """A run (a server run of ``project_id``, else a `wishstar run`) whose Helm task succeeded."""
    run_id, _ = live.store.create_run(pipeline, git={"branch": "main", "commit": f"{revision:040d}"},
                                      status="succeeded")
    if project_id is not None:
        with live.store.engine.begin() as conn:
            conn.execute(insert(run_leases).values(run_id=run_id, project_id=project_id, state="done"))
    live.store.upsert_tasks(run_id, [TaskRow(name="deploy", status="succeeded", finished_at=1_700_000_000.0 + revision,
                                             results={"RELEASE_NAME": release, "RELEASE_REVISION": str(revision),
                                                      "RELEASE_NAMESPACE": namespace, "IMAGE_DIGEST": digest,
                                                      "CHART": "app", "CHART_VERSION": "0.3.0"})])
    return run_id


def _world(live: Live) -> dict[str, str]:
    shop = live.add_project(21, SHOP).id
    other = live.add_project(22, OTHER, secret="other-secret").id
    return {"shop-1": _deploy(live, shop, "shop", 1, DIGEST_A), "shop-2": _deploy(live, shop, "shop", 2, DIGEST_B),
            "worker": _deploy(live, shop, "worker", 1, DIGEST_A),
            "other": _deploy(live, other, "other", 3, DIGEST_A, pipeline="other"),
            "local": _deploy(live, None, "laptop", 1, DIGEST_A, pipeline="laptop")}


def test_a_projects_current_releases_their_history_and_a_digests_places(live: Live) -> None:
    runs = _world(live)
    live.authorize("read")
    current = live.client.get(f"/api/projects/{SHOP}/deployments")
    assert current.status_code == 200, current.text
    assert [(d["release"], d["revision"], d["image_digest"], d["run_id"], d["current"]) for d in current.json()] == [
        ("shop", 2, DIGEST_B, runs["shop-2"], True), ("worker", 1, DIGEST_A, runs["worker"], True)]
    first = current.json()[0]
    assert first["deployed_at"] == "2023-11-14T22:13:22.000Z" and first["commit"] == f"{2:040d}"
    assert first["project"] == SHOP and first["namespace"] == "prod" and first["chart_version"] == "0.3.0"
    history = live.client.get(f"/api/projects/{SHOP}/deployments", params={"release": "shop", "history": "true"})
    assert [(d["revision"], d["current"]) for d in history.json()] == [(2, True), (1, False)]
    where = live.client.get("/api/deployments", params={"digest": DIGEST_A})
    assert {(d["project"], d["release"]) for d in where.json()} == {
        (SHOP, "shop"), (SHOP, "worker"), (OTHER, "other"), ("laptop", "laptop")}
    assert {d["release"]: d["current"] for d in where.json()}["shop"] is False, "shop moved on to digest B"
    of_run = live.client.get(f"/api/runs/{runs['worker'][:8]}/deployments")
    assert [d["release"] for d in of_run.json()] == ["worker"]
    assert live.client.get(f"/api/projects/{SHOP}/deployments", params={"history": "true"}).status_code == 400


def test_a_token_without_read_on_the_project_is_refused_and_a_limited_one_sees_only_its_project(live: Live) -> None:
    runs = _world(live)
    path = f"/api/projects/{SHOP}/deployments"
    assert live.client.get(path).status_code == 401
    live.authorize("trigger", "operate")
    assert live.client.get(path).status_code == 403
    live.authorize("read", projects=[OTHER])
    hidden, unknown = live.client.get(path), live.client.get("/api/projects/group/nope/deployments")
    assert hidden.status_code == unknown.status_code == 404, "a project it does not see is one that does not exist"
    assert live.client.get(f"/api/runs/{runs['shop-2']}/deployments").status_code == 404
    where = live.client.get("/api/deployments", params={"digest": DIGEST_A}).json()
    assert [d["project"] for d in where] == [OTHER], "not another project's, nor a `wishstar run`'s"
    live.authorize("read", projects=[SHOP])
    assert len(live.client.get(path).json()) == 2


@SQLITE_ONLY
def test_the_cli_asks_the_same_questions_through_the_api(live: Live) -> None:
    runs = _world(live)
    token = live.token("read")
    current = wishstar("deployments", SHOP, "--output", "json", server=live.url, token=token)
    assert current.returncode == 0, current.stderr
    assert [(d["release"], d["revision"]) for d in json.loads(current.stdout)] == [("shop", 2), ("worker", 1)]
    history = wishstar("deployments", SHOP, "--release", "shop", "--history", server=live.url, token=token)
    assert history.returncode == 0 and "shop#1" in history.stdout and "sha256:bbbbbbbbbbbb" in history.stdout
    where = wishstar("deployments", "--digest", DIGEST_A, "--output", "json", server=live.url, token=token)
    assert len(json.loads(where.stdout)) == 4
    shown = wishstar("runs", "show", runs["worker"], "--output", "json", server=live.url, token=token)
    assert [d["release"] for d in json.loads(shown.stdout)["deployments"]] == ["worker"]
    refused = wishstar("deployments", SHOP, server=live.url, token=live.token("read", projects=[OTHER]))
    assert refused.returncode == 2 and f'no project "{SHOP}"' in refused.stderr and "Traceback" not in refused.stderr
