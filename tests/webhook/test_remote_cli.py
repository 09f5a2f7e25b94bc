"""``wishstar runs list|show|cancel`` and ``wishstar logs`` with ``--server``: the real CLI as a process against the
real server, through the API, with the token in WISHSTAR_TOKEN."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.webhook.conftest import Live
from wishstar.engine.store.api import TaskRow

ROOT = Path(__file__).resolve().parents[2]
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def wishstar(*args: str, server: str, token: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WISHSTAR_")}
    env.update({"WISHSTAR_SERVER": server, "COLUMNS": "200", "WISHSTAR_STATE_DIR": "/nonexistent/local"})
    if token is not None:
        env["WISHSTAR_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "wishstar.cli", *args], capture_output=True, text=True,
                          timeout=60, env=env, cwd=ROOT)


def _run(live: Live) -> str:
    run_id, _ = live.store.create_run("shop-api", git={"branch": "main", "commit": "c" * 40}, status="running")
    live.store.upsert_tasks(run_id, [TaskRow(name="test", status="succeeded", attempts=1)])
    log = live.store.logs.step_path(run_id, "test", 1, "main")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(100)))
    live.store.record_step(run_id, "test", 1, "main", exit_code=0, log_path=str(log), size=log.stat().st_size)
    return run_id


@SQLITE_ONLY
def test_runs_and_logs_are_read_and_cancelled_through_the_api(live: Live) -> None:
    run_id = _run(live)
    token = live.token("read", "operate")
    listed = wishstar("runs", "list", "--output", "json", server=live.url, token=token)
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)] == [run_id]
    shown = wishstar("runs", "show", "shop-api#1", server=live.url, token=token)
    assert shown.returncode == 0 and "shop-api #1" in shown.stdout and "test" in shown.stdout, shown.stderr
    logs = wishstar("logs", run_id, "test", "--tail", "2", server=live.url, token=token)
    assert logs.returncode == 0 and logs.stdout == "line 98\nline 99\n", logs.stderr
    cancelled = wishstar("runs", "cancel", run_id[:6], server=live.url, token=token)
    assert cancelled.returncode == 0 and f"cancel requested for run {run_id}" in cancelled.stdout
    assert live.store.cancel_requested(run_id)


@SQLITE_ONLY
def test_a_refusal_is_one_line_with_a_hint_and_never_shows_the_token(live: Live) -> None:
    run_id = _run(live)
    anonymous = wishstar("runs", "list", server=live.url, token=None)
    assert anonymous.returncode == 2 and "refused the request (401)" in anonymous.stderr
    assert "set WISHSTAR_TOKEN" in anonymous.stderr and "Traceback" not in anonymous.stderr
    reader = live.token("read")
    forbidden = wishstar("runs", "cancel", run_id, server=live.url, token=reader)
    assert forbidden.returncode == 2 and 'refused the request (403): this needs a token with the "operate" scope' \
        in forbidden.stderr
    assert reader not in forbidden.stdout + forbidden.stderr
    assert not live.store.cancel_requested(run_id)


def test_an_unreachable_server_is_named() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    answer = wishstar("runs", "list", server=f"http://127.0.0.1:{port}", token="wst_x")
    assert answer.returncode == 2 and f"cannot reach http://127.0.0.1:{port}" in answer.stderr
