"""``wishstar deployments`` on the local store, and the deployments ``wishstar runs show`` lists: the real CLI
as a process."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Cli
from tests.webhook.test_deployments_end_to_end import DIGEST, HELM_TASK, PIPELINE
from wishstar.engine.store import Store, TaskRow

DIGEST_A = "sha256:" + "a" * 64  # recorded directly in the store; DIGEST: by a real run
DIGEST_B = "sha256:" + "b" * 64


def _record(cli: Cli) -> dict[str, str]:
    made = {}
    with Store.open(None, cli.state_dir) as store:
        for key, release, revision, digest, namespace in [("one", "shop", 1, DIGEST_A, "prod"),
                                                          ("two", "shop", 2, DIGEST_B, "prod"),
                                                          ("stage", "shop", 1, DIGEST_A, "staging")]:
            run_id, _ = store.create_run("shop", git={"branch": "main", "commit": "f" * 40}, status="succeeded")
            store.upsert_tasks(run_id, [TaskRow(
                name="deploy", status="succeeded", finished_at=1_700_000_000.0,
                results={"RELEASE_NAME": release, "RELEASE_REVISION": str(revision), "RELEASE_NAMESPACE": namespace,
                         "IMAGE_DIGEST": digest, "IMAGE_URL": "registry.local/shop:1", "CHART": "app",
                         "CHART_VERSION": "0.3.0"})])
            made[key] = run_id
    return made


def test_a_projects_current_releases_as_a_table_and_as_json(cli: Cli) -> None:
    runs = _record(cli)
    table = cli("deployments", "shop")
    assert table.code == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["namespace", "release", "rev", "digest", "image", "chart", "commit", "ref", "run",
                                "deployed"]
    assert lines[1].split()[:4] == ["prod", "shop", "2", "sha256:bbbbbbbbbbbb"] and "shop#2" in lines[1]
    assert lines[2].split()[:3] == ["staging", "shop", "1"]
    listed = cli("deployments", "shop", "--namespace", "prod", "--output", "json").json()
    assert [(d["release"], d["revision"], d["run_id"], d["image"]) for d in listed] == [
        ("shop", 2, runs["two"], "registry.local/shop")]


def test_history_digest_and_latest_answer_their_own_question(cli: Cli) -> None:
    runs = _record(cli)
    history = cli("deployments", "shop", "-n", "prod", "--release", "shop", "--history", "--output", "json").json()
    assert [(d["run_id"], d["revision"], d["current"]) for d in history] == [(runs["two"], 2, True),
                                                                             (runs["one"], 1, False)]
    where = cli("deployments", "--digest", DIGEST_A, "--output", "json").json()
    assert [(d["namespace"], d["current"]) for d in where] == [("staging", True), ("prod", False)]
    latest = cli("deployments", "--output", "json").json()
    assert [d["run_id"] for d in latest] == [runs["stage"], runs["two"], runs["one"]]
    nothing = cli("deployments", "nobody")
    assert nothing.code == 0 and "no deployments recorded for project nobody" in nothing.stdout


def test_a_question_missing_its_release_is_one_line_with_a_hint(cli: Cli) -> None:
    missing = cli("deployments", "shop", "--history")
    assert missing.code == 2 and missing.stderr.strip().startswith("error: --history needs --release NAME")
    unscoped = cli("deployments", "--release", "shop", "--history")
    assert unscoped.code == 2 and "name the project or --namespace too" in unscoped.stderr
    assert "Traceback" not in missing.stderr + unscoped.stderr


def test_runs_show_lists_what_the_run_deployed(cli: Cli) -> None:
    runs = _record(cli)
    shown = cli("runs", "show", runs["two"])
    assert shown.code == 0, shown.stderr
    after = shown.stdout.split("deployments\n", 1)[1].splitlines()
    assert after[1].split()[:5] == ["shop", "prod", "shop", "2", "sha256:bbbbbbbbbbbb"]
    as_json = cli("runs", "show", runs["two"], "--output", "json").json()
    assert [(d["release"], d["revision"], d["task"]) for d in as_json["deployments"]] == [("shop", 2, "deploy")]


def test_a_wishstar_run_that_deploys_is_listed_under_its_pipeline_name(cli: Cli,
                                                                       make_repo: Callable[..., Path]) -> None:
    repo = make_repo(PIPELINE, {".wishstar/tasks/fake-helm.yaml": textwrap.dedent(HELM_TASK)})
    run = cli("run", str(repo), "--output", "json")
    assert run.code == 0, run.stderr
    [deployed] = cli("deployments", "shop", "--output", "json").json()
    assert (deployed["run_id"], deployed["release"], deployed["revision"], deployed["image_digest"]) == (
        run.json()["id"], "shop", 1, DIGEST)
    assert deployed["commit"] == run.json()["git"]["commit"]
