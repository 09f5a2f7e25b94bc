"""What users trust Wishstar with: hostile git values never reach a shell, secrets never reach logs or results,
cancellation (Ctrl-C or ``runs cancel``) stops every process but an ``interruptible: false`` task's (a second
Ctrl-C stops those too) and still runs ``finally``, a crash is noticed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import git
import pytest


def _wait_for(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


@pytest.mark.parametrize("branch", ["x;touch${IFS}MARK", "$(touch MARK)", "`touch MARK`", "a\"; touch MARK; \""],
                         ids=["semicolon-ifs", "command-substitution", "backticks", "quotes"])
def test_a_hostile_branch_name_reaches_steps_only_as_an_environment_variable(cli, make_repo, tmp_path, branch):
    mark = tmp_path / "pwned"
    hostile = branch.replace("MARK", str(mark))
    repo = make_repo("""
        name: hostile
        tasks:
          echo:
            when: git.branch != ""
            script: |
              printf 'branch=%s\\n' "$WISHSTAR_GIT_BRANCH"
              echo "message=$WISHSTAR_GIT_MESSAGE"
    """)
    result = cli("run", str(repo), "--branch", hostile, "--output", "json")
    assert result.code == 0, result.stderr
    assert not mark.exists()
    run = result.json()
    assert run["git"]["branch"] == hostile
    assert f"branch={hostile}" in cli("logs", run["id"], "echo").stdout


def test_a_real_branch_with_shell_syntax_in_its_name_creates_nothing(cli, make_repo, tmp_path):
    mark = tmp_path / "pwned2"
    repo = make_repo("""
        name: hostile
        tasks:
          echo:
            script: echo "$WISHSTAR_GIT_BRANCH"
    """)
    name = f"x;touch${{IFS}}{mark}"
    git.Repo(repo).git.checkout("-b", name)
    result = cli("run", str(repo), "--output", "json")
    assert result.code == 0, result.stderr
    assert result.json()["git"]["branch"] == name
    assert not mark.exists()


def test_secret_values_are_masked_in_logs_results_and_reasons(cli, make_repo, tmp_path):
    secrets_file = tmp_path / "secrets.yaml"
    secrets_file.write_text("API_TOKEN: s3cr3t-t0ken-value\n")
    repo = make_repo("""
        name: secrets
        tasks:
          leak:
            env:
              TOKEN: {secret: API_TOKEN}
            results: [copy]
            script: |
              printf 's3cr3t-t0'; sleep 0.2; printf 'ken-value\\n'
              echo "token is $TOKEN"
              printf '%s' "$TOKEN" > "$(results.copy.path)"
              echo "$TOKEN" >&2
              exit 4
    """)
    result = cli("run", str(repo), "--secrets-file", str(secrets_file), "--output", "json")
    assert result.code == 1
    log = cli("logs", result.json()["id"], "leak").stdout
    assert "s3cr3t" not in log and "t0ken" not in log
    assert log.count("***") == 3
    assert "s3cr3t" not in result.stdout and "s3cr3t" not in result.stderr
    db = (cli.state_dir / "wishstar.db").read_bytes()
    assert b"s3cr3t-t0ken-value" not in db


def test_a_secret_from_an_environment_variable_and_a_missing_secret(cli, make_repo):
    repo = make_repo("""
        name: secrets
        tasks:
          use:
            env:
              TOKEN: {secret: DEPLOY}
            script: test -n "$TOKEN" && echo "got $TOKEN"
    """)
    missing = cli("run", str(repo))
    assert missing.code == 2
    assert 'secret "DEPLOY"' in missing.stderr and "--secret" in missing.stderr
    ok = cli("run", str(repo), "--secret", "DEPLOY=MY_DEPLOY_TOKEN", "--output", "json",
             env={"MY_DEPLOY_TOKEN": "hunter2-hunter2"})
    assert ok.code == 0, ok.stderr
    assert "got ***" in cli("logs", ok.json()["id"], "use").stdout


SLOW = """
    name: slow
    tasks:
      slow:
        script: |
          sleep 300 &
          echo $! > {pids}
          sleep 300
      other:
        script: sleep 300
    finally:
      cleanup:
        script: echo "finally saw $(tasks.status)"
"""


def _start_slow(cli, make_repo, tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    pids = tmp_path / "pids"
    repo = make_repo(SLOW.format(pids=pids))
    proc = cli.start("run", str(repo), "--output", "json", "--no-progress")
    _wait_for(lambda: pids.exists() and pids.read_text().strip(), what="the step to start")
    return proc, pids


def test_runs_cancel_stops_every_process_runs_finally_and_records_cancelled(cli, make_repo, tmp_path):
    proc, pids = _start_slow(cli, make_repo, tmp_path)
    grandchild = int(pids.read_text())
    run_id = cli("runs", "list", "--output", "json").json()[0]["id"]
    assert cli("runs", "cancel", run_id).code == 0
    out, _ = proc.communicate(timeout=60)
    run = json.loads(out)
    tasks = {t["name"]: t for t in run["tasks"]}
    assert proc.returncode == 130
    assert run["status"] == "cancelled"
    assert tasks["slow"]["status"] == "cancelled" and tasks["other"]["status"] == "cancelled"
    assert tasks["cleanup"]["status"] == "succeeded"
    assert "finally saw cancelled" in cli("logs", run_id, "cleanup").stdout
    _wait_for(lambda: not _alive(grandchild), timeout=10, what="the background grandchild to die")


def test_ctrl_c_cancels_the_run_and_leaves_no_process_behind(cli, make_repo, tmp_path):
    proc, pids = _start_slow(cli, make_repo, tmp_path)
    grandchild = int(pids.read_text())
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert json.loads(out)["status"] == "cancelled"
    _wait_for(lambda: not _alive(grandchild), timeout=10, what="the background grandchild to die")


DEPLOY = """
    name: deploy
    tasks:
      deploy:
        interruptible: false
        script: |
          touch {started}
          while [ ! -e {go} ]; do sleep 0.05; done
          echo deployed
"""


def _start_deploy(cli, make_repo, tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    started, go = tmp_path / "started", tmp_path / "go"
    proc = cli.start("run", str(make_repo(DEPLOY.format(started=started, go=go))), "--output", "json",
                     "--no-progress")
    _wait_for(started.exists, what="the deploy to start")
    return proc, go


def test_ctrl_c_lets_a_non_interruptible_task_finish_and_the_run_ends_cancelled(cli, make_repo, tmp_path):
    proc, go = _start_deploy(cli, make_repo, tmp_path)
    proc.send_signal(signal.SIGINT)
    time.sleep(1.0)
    assert proc.poll() is None  # still deploying
    go.touch()
    out, err = proc.communicate(timeout=60)
    run = json.loads(out)
    assert proc.returncode == 130 and run["status"] == "cancelled"
    assert run["tasks"][0]["status"] == "succeeded"
    assert "interruptible: false" in err


def test_a_second_ctrl_c_stops_a_non_interruptible_task(cli, make_repo, tmp_path):
    proc, _ = _start_deploy(cli, make_repo, tmp_path)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    run = json.loads(out)
    assert proc.returncode == 130 and run["status"] == "cancelled"
    assert run["tasks"][0]["status"] == "cancelled"


def test_a_run_whose_engine_died_is_marked_failed_and_its_steps_killed_on_the_next_start(cli, make_repo, tmp_path):
    proc, pids = _start_slow(cli, make_repo, tmp_path)
    grandchild = int(pids.read_text())
    proc.kill()
    proc.wait()
    try:
        assert _alive(grandchild)
        runs = cli("runs", "list", "--output", "json").json()
        assert runs[0]["status"] == "failed"
        shown = cli("runs", "show", runs[0]["id"], "--output", "json").json()
        assert "is gone" in shown["reason"]
        _wait_for(lambda: not _alive(grandchild), timeout=10, what="the dead engine's steps to be killed")
    finally:
        if _alive(grandchild):
            os.kill(grandchild, signal.SIGKILL)
