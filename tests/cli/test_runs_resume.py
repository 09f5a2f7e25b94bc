"""``wishstar runs resume`` refuses what it cannot resume, with a message saying why and what to do instead;
``runs show``/``runs list`` name an orphaned Kubernetes run (its process is gone) instead of failing it.

The resume itself, against a real control plane, is in ``tests/k8s/test_cli_resume.py``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from wishstar.engine.store import Store

TARGET = {"namespace": "ci", "kubeconfig": "/nonexistent/kubeconfig", "context": "nowhere",
          "project": "checkout", "concurrency": None}


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _kubernetes_run(state: Path, *, pid: int, target: dict[str, object] | None = TARGET) -> str:
    with Store.open(None, state) as store:
        run_id, _ = store.create_run("kw", executor="kubernetes", target=target, file=".wishstar.yaml",
                                     host=socket.gethostname(), pid=pid, status="running")
    return run_id


def test_resuming_a_local_run_is_refused_because_its_processes_died_with_it(cli, make_repo):
    repo = make_repo("""
        name: slow
        tasks:
          wait:
            script: sleep 30
    """)
    proc = cli.start("run", str(repo), "--no-progress")
    try:
        deadline = time.monotonic() + 60
        while not (runs := cli("runs", "list", "--status", "running", "--output", "json").json()):
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.1)
        refused = cli("runs", "resume", runs[0]["id"])
        assert refused.code == 2
        assert "runs on the local executor" in refused.stderr and "Traceback" not in refused.stderr
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


def test_resuming_a_run_its_live_process_still_drives_is_refused(cli):
    run_id = _kubernetes_run(cli.state_dir, pid=os.getpid())
    refused = cli("runs", "resume", run_id)
    assert refused.code == 2
    assert f"still driven by a live process (host {socket.gethostname()}, pid {os.getpid()})" in refused.stderr
    assert f"wishstar runs cancel {run_id}" in refused.stderr
    assert cli("runs", "show", run_id, "--output", "json").json()["orphaned"] is False


def test_resuming_a_finished_run_is_refused(cli, make_repo):
    repo = make_repo("""
        name: quick
        tasks:
          hello:
            script: echo hello
    """)
    run = cli("run", str(repo), "--output", "json", "--no-progress").json()
    refused = cli("runs", "resume", run["id"])
    assert refused.code == 2
    assert f"run {run['id']} already ended (succeeded)" in refused.stderr


def test_a_kubernetes_run_whose_process_died_is_shown_orphaned_with_what_to_do(cli):
    run_id = _kubernetes_run(cli.state_dir, pid=_dead_pid())
    shown = cli("runs", "show", run_id)
    assert shown.code == 0, shown.stderr
    assert "running" in shown.stdout and "failed" not in shown.stdout
    assert "orphaned: the process running it is gone" in shown.stdout
    assert f"wishstar runs resume {run_id}" in shown.stdout and f"wishstar runs cancel {run_id}" in shown.stdout
    assert cli("runs", "show", run_id, "--output", "json").json()["orphaned"] is True
    listed = cli("runs", "list")
    assert "(orphaned)" in listed.stdout and f"wishstar runs resume {run_id}" in listed.stderr
    assert [r["orphaned"] for r in cli("runs", "list", "--output", "json").json()] == [True]


def test_resuming_an_orphan_whose_checkout_was_pruned_is_refused_with_the_cancel_hint(cli):
    run_id = _kubernetes_run(cli.state_dir, pid=_dead_pid())
    refused = cli("runs", "resume", run_id)
    assert refused.code == 2
    assert "checkout" in refused.stderr and "is gone" in refused.stderr
    assert f"wishstar runs cancel {run_id}" in refused.stderr
    assert cli("runs", "show", run_id, "--output", "json").json()["status"] == "running"


def test_a_kubernetes_run_without_a_recorded_target_is_not_resumed(cli):
    run_id = _kubernetes_run(cli.state_dir, pid=_dead_pid(), target=None)
    refused = cli("runs", "resume", run_id)
    assert refused.code == 2
    assert "no recorded Kubernetes target" in refused.stderr
