"""THE proof of the distributed mode: three replicas (real processes, ``python -m wishstar.webhook.worker``) share one
PostgreSQL database; 12 events are stored; one replica is killed with SIGKILL mid-run (with its step
processes, as when its machine or Pod dies); every run still finishes exactly once.

Each task appends "run task attempt replica start|end time" to a markers file, so the test sees every attempt
that really executed: no attempt runs twice, a task that finished is never run again, and only the killed
replica's running tasks are started again (as a new attempt, by another replica, after the kill).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select, text

from tests.webhook.test_worker_support import (
    add_event,
    make_repo,
    open_store,
    pg_schema_url,
    push_payload,
    read_markers,
    register,
    settings,
)
from wishstar.engine.status import ENDED_RUN_STATUSES
from wishstar.engine.store import db
from wishstar.engine.store.models import run_leases
from wishstar.engine.store.server import Events

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 12


def pipeline(markers: Path) -> str:
    line = 'echo "$WISHSTAR_RUN_ID $WISHSTAR_TASK $WISHSTAR_ATTEMPT $WISHSTAR_REPLICA'
    task = f"""    script: |
      {line} start $(date +%s.%N)" >> {markers}
      sleep 0.6
      {line} end $(date +%s.%N)" >> {markers}
"""
    return f"name: app\ntasks:\n  a:\n{task}  b:\n    needs: [a]\n{task}"


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant, freezing them first: a process the replica forks between a listing
    and the kill would otherwise survive as an orphan and go on writing markers (seen under load)."""
    frozen: set[int] = set()
    while True:
        fresh = [p for p in (pid, *descendants(pid)) if p not in frozen]
        if not fresh:
            break
        for victim in fresh:
            with contextlib.suppress(ProcessLookupError):  # a short-lived step may end meanwhile
                os.kill(victim, signal.SIGSTOP)
            frozen.add(victim)
    for victim in frozen:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


def start_replica(name: str, url: str, tmp: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "WISHSTAR_DATABASE_URL": url, "WISHSTAR_STATE_DIR": str(tmp / name),
           "WISHSTAR_LEASE_SECONDS": "2", "WISHSTAR_WORKERS": "2", "PYTHONPATH": str(ROOT)}
    log = (tmp / f"{name}.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "wishstar.webhook.worker", "--replica-id", name], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.postgres
def test_three_replicas_finish_every_run_exactly_once_when_one_is_killed(tmp_path: Path) -> None:
    url, admin, schema = pg_schema_url()
    replicas: list[subprocess.Popen[bytes]] = []
    try:
        markers = tmp_path / "markers"
        repo = make_repo(tmp_path / "repo", {".wishstar.yaml": pipeline(markers)})
        cfg = settings(tmp_path, url)
        with open_store(cfg) as store:
            project = register(store, str(tmp_path / "repo"))
            event_ids = [add_event(store, project, push_payload(repo.head.commit.hexsha))[0] for _ in range(EVENTS)]
            replicas = [start_replica(f"r{i}", url, tmp_path) for i in range(3)]
            deadline = time.monotonic() + 60
            while not any(m[3] == "r0" and m[4] == "start" for m in read_markers(markers)):
                assert time.monotonic() < deadline, "replica r0 never started a task"
                time.sleep(0.02)
            kill_tree(replicas[0].pid)
            killed_at = time.time()
            replicas[0].wait()
            deadline = time.monotonic() + 120
            while True:
                events = [Events(store).get(e) for e in event_ids]
                runs = [store.get_run(e.run_id) for e in events if e.run_id]
                if len(runs) == EVENTS and all(r.status in ENDED_RUN_STATUSES for r in runs):
                    break
                assert time.monotonic() < deadline, [(r.id, r.status) for r in runs]
                time.sleep(0.2)
            with db.read(store.engine) as conn:
                lease_states = Counter(conn.execute(select(run_leases.c.state)).scalars())
        assert all(e.status == "done" for e in events)
        assert len({r.id for r in runs}) == EVENTS
        assert [r.status for r in runs] == ["succeeded"] * EVENTS
        assert lease_states == {"done": EVENTS}

        marks = read_markers(markers)
        starts = Counter((m[0], m[1], m[2]) for m in marks if m[4] == "start")
        assert max(starts.values()) == 1  # no attempt ever executed twice
        rerun = 0
        for run in runs:
            for task in run.tasks:
                attempts = sorted(int(a) for (r, t, a) in starts if r == run.id and t == task.name)
                # the last attempt ran; an earlier one left no start mark when r0 died between recording it
                # and spawning its step, so the attempt numbers that ran are a subset ending with the last
                assert attempts and attempts[-1] == task.attempts, (run.id, task)
                assert set(attempts) <= set(range(1, task.attempts + 1)), (run.id, task)
                for attempt in attempts[:-1]:  # an attempt was started again only because r0 died running it
                    rerun += 1
                    by = next(m for m in marks if m[:3] == [run.id, task.name, str(attempt)])
                    assert by[3] == "r0"
                    again = next(m for m in marks if m[:3] == [run.id, task.name, str(attempt + 1)])
                    assert again[3] != "r0" and float(again[5]) > killed_at
        assert rerun >= 1  # the kill did land mid-task, and another replica took the run over
        assert not any(m[3] == "r0" and float(m[5]) > killed_at + 0.05 for m in marks)
    finally:
        for proc in replicas:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in replicas:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
