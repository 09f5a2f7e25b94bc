"""``wishstar runs delete`` and ``runs prune``: ended runs are forgotten with their logs and working
directories; runs that have not ended are never touched; a Kubernetes run whose cluster cannot be reached is
kept unless ``--force``. (The cluster side, deleting a kept run's owner object, is in tests/k8s.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import update

from tests.cli.conftest import Cli
from wishstar.engine.store import Store
from wishstar.engine.store.models import runs

PIPELINE = "name: keep\ntasks:\n  a:\n    script: echo hello\n"


def _runs(cli: Cli, repo: Path, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        result = cli("run", str(repo), "--no-progress", "--output", "json")
        assert result.code == 0, result.stderr
        ids.append(result.json()["id"])
    return ids


def _ended_days_ago(cli: Cli, run_id: str, days: float) -> None:
    with Store.open(None, cli.state_dir) as store, store.engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(finished_at=time.time() - days * 86400))


def test_a_deleted_run_is_gone_with_its_logs_and_working_directory(cli: Cli,
                                                                    make_repo: Callable[..., Path]) -> None:
    run_id, other = _runs(cli, make_repo(PIPELINE), 2)
    assert (cli.state_dir / "logs" / run_id).is_dir() and (cli.state_dir / "work" / run_id).is_dir()
    result = cli("runs", "delete", run_id)
    assert result.code == 0 and "deleted 1 run(s)" in result.stdout, result.stderr
    assert not (cli.state_dir / "logs" / run_id).exists() and not (cli.state_dir / "work" / run_id).exists()
    shown = cli("runs", "show", run_id)
    assert shown.code != 0 and "Traceback" not in shown.stderr
    assert [r["id"] for r in cli("runs", "list", "--output", "json").json()] == [other]


def test_a_run_that_has_not_ended_is_refused_and_nothing_is_deleted(cli: Cli,
                                                                     make_repo: Callable[..., Path]) -> None:
    (ended,) = _runs(cli, make_repo(PIPELINE), 1)
    with Store.open(None, cli.state_dir) as store:
        active, _ = store.create_run("keep")
    result = cli("runs", "delete", ended, active)
    assert result.code != 0 and f"{active} (pending)" in result.stderr and "runs cancel" in result.stderr
    assert {r["id"] for r in cli("runs", "list", "--output", "json").json()} == {ended, active}


def test_prune_deletes_only_runs_that_ended_before_the_cutoff(cli: Cli, make_repo: Callable[..., Path]) -> None:
    old, older, recent = _runs(cli, make_repo(PIPELINE), 3)
    _ended_days_ago(cli, old, 31)
    _ended_days_ago(cli, older, 90)
    with Store.open(None, cli.state_dir) as store:
        active, _ = store.create_run("keep")
    dry = cli("runs", "prune", "--older-than", "30d", "--dry-run")
    assert dry.stdout.split()[:2] == [older, old] and "would delete 2 run(s)" in dry.stdout, dry.stdout
    assert len(cli("runs", "list", "--output", "json").json()) == 4
    result = cli("runs", "prune", "--older-than", "30d")
    assert result.code == 0 and "deleted 2 run(s)" in result.stdout, result.stderr
    assert {r["id"] for r in cli("runs", "list", "--output", "json").json()} == {recent, active}


def test_a_duration_that_is_not_one_is_refused(cli: Cli) -> None:
    result = cli("runs", "prune", "--older-than", "a month")
    assert result.code != 0 and "--older-than 'a month': not a duration" in result.stderr, result.stderr


def test_a_kubernetes_run_whose_cluster_is_unreachable_is_kept_unless_forced(cli: Cli, tmp_path: Path) -> None:
    target = {"namespace": "ci", "kubeconfig": str(tmp_path / "gone.kubeconfig"), "context": "old",
              "project": "checkout", "concurrency": None}
    with Store.open(None, cli.state_dir) as store:
        run_id, _ = store.create_run("keep", executor="kubernetes", target=target)
        store.set_run_status(run_id, "succeeded", finished_at=time.time())
    kept = cli("runs", "delete", run_id)
    assert kept.code != 0 and f"kept run {run_id}" in kept.stderr and "--force" in kept.stderr, kept.stderr
    assert "Traceback" not in kept.stderr
    assert [r["id"] for r in cli("runs", "list", "--output", "json").json()] == [run_id]
    forced = cli("runs", "delete", run_id, "--force")
    assert forced.code == 0 and f"warning: run {run_id} forgotten" in forced.stderr, forced.stderr
    assert cli("runs", "list", "--output", "json").json() == []


def test_keeping_few_workspaces_never_removes_the_directory_of_a_run_that_has_not_ended(
        cli: Cli, make_repo: Callable[..., Path]) -> None:
    import os

    with Store.open(None, cli.state_dir) as store:
        orphan, _ = store.create_run("keep", executor="kubernetes")
    kept = cli.state_dir / "work" / orphan / "checkout"
    kept.mkdir(parents=True)
    os.utime(kept.parent, (time.time() - 3600, time.time() - 3600))  # the oldest directory
    first, second = _runs(cli, make_repo(PIPELINE), 2)
    cli.env["WISHSTAR_KEEP_WORKSPACES"] = "1"
    third = _runs(cli, cli.state_dir.parent / "repo", 1)[0]
    left = {p.name for p in (cli.state_dir / "work").iterdir()}
    assert left == {orphan, third}, (left, first, second)


def test_prune_ends_an_expired_orphan_only_when_its_pods_can_be_deleted_or_when_forced(cli: Cli,
                                                                                      tmp_path: Path) -> None:
    import socket
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()  # a process that is gone: the run's owner
    target = {"namespace": "ci", "kubeconfig": str(tmp_path / "gone.kubeconfig"), "context": "old",
              "project": "checkout", "concurrency": None}
    with Store.open(None, cli.state_dir) as store:
        old, _ = store.create_run("kw", executor="kubernetes", target=target, host=socket.gethostname(),
                                  pid=proc.pid, status="running", created_at=time.time() - 40 * 86400)
        young, _ = store.create_run("kw", executor="kubernetes", target=target, host=socket.gethostname(),
                                    pid=proc.pid, status="running")
    dry = cli("runs", "prune", "--older-than", "30d", "--dry-run")
    assert dry.stdout.split()[0] == old and "would delete 1 run(s)" in dry.stdout, dry.stdout
    kept = cli("runs", "prune", "--older-than", "30d")
    assert kept.code == 1 and f"kept orphaned run {old}" in kept.stderr, kept.stderr
    assert {r["id"]: r["status"] for r in cli("runs", "list", "--output", "json").json()} == {
        old: "running", young: "running"}
    forced = cli("runs", "prune", "--older-than", "30d", "--force")
    assert forced.code == 0 and f"warning: orphaned run {old} ended" in forced.stderr, forced.stderr
    assert "1 of them orphans cancelled first" in forced.stdout, forced.stdout
    assert [r["id"] for r in cli("runs", "list", "--output", "json").json()] == [young]
