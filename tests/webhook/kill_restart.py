"""The kill-and-restart scenario shared by tests/webhook/test_restart.py and bench/restart_kills.py. No tests here.

A real ``wishstar serve`` process (local executor, SQLite or PostgreSQL) receives GitLab push events over HTTP,
one commit each, for a real git repository whose pipeline is green, while the scenario SIGKILLs it at random
moments (seeded) and starts it again, as an OOM kill or a deploy of Wishstar would. Only the server process is
killed: its step processes run in sessions of their own and outlive it, as they would on a real machine, so
the next server process must kill them before running their tasks again.

Every task appends ``run task attempt engine start|end time`` to a markers file outside the workspace, so the
scenario sees every attempt that really executed, by which engine, and when. The slow task also leaves two
background processes in its session (one with the run's environment, one with an emptied one) that only a
kill of the whole session ends. Statuses go to the GitLab stand-in (tests/gitlab_standin.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git
import httpx

from tests.gitlab_standin import TOKEN, StandIn
from tests.webhook.payloads import push_to
from wishstar.engine.store.api import Store
from wishstar.engine.store.server import Events, Projects
from wishstar.pipelines.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "restart-hook-secret"
PROJECT = 42
FINAL = ("succeeded", "failed", "cancelled")


def pipeline(markers: Path) -> str:
    """Four tasks, green: ``compile`` (2.5 s, long enough that a killed engine's attempt is still running when
    the next server takes over) then ``unit`` and ``lint`` in parallel, then ``package``."""
    def task(name: str, seconds: float, needs: str = "", extra: str = "") -> str:
        line = f'echo "$WISHSTAR_RUN_ID {name} $WISHSTAR_ATTEMPT $WISHSTAR_REPLICA'
        return (f"  {name}:\n{needs}    script: |\n{extra}"
                f'      {line} start $(date +%s.%N)" >> {markers}\n'
                f"      sleep {seconds}\n"
                f'      {line} end $(date +%s.%N)" >> {markers}\n')
    # background processes that outlive the script only if the engine dies: the group kill ends them otherwise
    background = "      sleep 60 &\n      env -i /bin/sleep 61 &\n"
    return ("name: app\ntasks:\n" + task("compile", 2.5, extra=background)
            + task("unit", 1.0, "    needs: [compile]\n") + task("lint", 0.5, "    needs: [compile]\n")
            + task("package", 0.2, "    needs: [unit, lint]\n"))


@dataclass
class Figures:
    backend: str
    events: int
    kills: int
    runs: int = 0
    green: int = 0
    reattempted: int = 0
    """Task attempts interrupted by a kill and run again as a new attempt by the next server."""
    seconds: float = 0.0
    engine_restarted_seen: int = 0
    """Distinct (run, task) whose reason was seen saying "engine restarted" while the scenario polled."""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class Outcome:
    figures: Figures
    accepted: list[str]
    runs: list[dict[str, Any]]
    stored_runs: int
    marks: list[list[str]]
    kills_at: dict[str, float]
    """Engine name (host:pid, as steps see it in WISHSTAR_REPLICA) -> when it was killed."""
    final_statuses: dict[str, list[str]]
    left_behind: list[int]
    reaped_while_down: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``wishstar serve`` as a process, started again after each kill on the same port and state."""

    def __init__(self, tmp: Path, url: str | None, public: str, port: int) -> None:
        self.port, self.tmp = port, tmp
        env = {k: v for k, v in os.environ.items() if not k.startswith("WISHSTAR_")}
        env.update({"WISHSTAR_STATE_DIR": str(tmp / "state"), "WISHSTAR_PUBLIC_URL": public,
                    "WISHSTAR_LEASE_SECONDS": "3", "WISHSTAR_WORKERS": "3", "PYTHONPATH": str(ROOT)})
        if url is not None:
            env["WISHSTAR_DATABASE_URL"] = url
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0

    def start(self) -> None:
        self.started += 1
        log = (self.tmp / f"server-{self.started}.log").open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "wishstar.cli", "serve", "--port", str(self.port)],
                                     env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not self.healthy():
            assert self.proc.poll() is None, f"the server exited: {self.log_tail()}"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> str:
        """SIGKILL the server process only; returns its engine name (``host:pid``)."""
        assert self.proc is not None
        name = f"{socket.gethostname()}:{self.proc.pid}"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return name

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self) -> str:
        return (self.tmp / f"server-{self.started}.log").read_text(errors="replace")[-3000:]


class Sender(threading.Thread):
    """Sends one push event per commit, as GitLab does: retried (same Idempotency-Key) until answered 2xx."""

    def __init__(self, port: int, payloads: list[dict[str, Any]], instance: str, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.port, self.payloads, self.instance = port, payloads, instance
        self.gaps = [rng.uniform(0.1, 0.5) for _ in payloads]
        self.accepted: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for i, payload in enumerate(self.payloads):
                self.accepted.append(self._deliver(i, payload))
                time.sleep(self.gaps[i])
        except BaseException as exc:
            self.error = exc

    def _deliver(self, i: int, payload: dict[str, Any]) -> str:
        headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET, "X-Gitlab-Instance": self.instance,
                   "Idempotency-Key": f"delivery-{i}", "User-Agent": "GitLab/17.5.0",
                   "Content-Type": "application/json"}
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.post(f"http://127.0.0.1:{self.port}/hooks/gitlab", content=json.dumps(payload),
                                    headers=headers, timeout=5)
                if answer.status_code in (200, 202):
                    body = answer.json()
                    assert body["status"] in ("accepted", "duplicate"), body
                    return str(body["event"])
            except httpx.HTTPError:
                pass  # the server is down (killed): GitLab retries later
            assert time.monotonic() < deadline, f"event {i} was never accepted"
            time.sleep(0.1)


def _commits(path: Path, count: int) -> list[str]:
    repo = git.Repo(path)
    shas = []
    for i in range(count):
        (path / "change.txt").write_text(f"change {i}\n")
        repo.index.add(["change.txt"])
        shas.append(repo.index.commit(f"change {i}").hexsha)
    return shas


def _repo(path: Path, markers: Path) -> None:
    path.mkdir(parents=True)
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Test").set_value("user", "email", "test@example.com")
    (path / ".wishstar.yaml").write_text(pipeline(markers))
    repo.index.add([".wishstar.yaml"])
    repo.index.commit("pipeline")


def read_markers(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def _running_now(marks: list[list[str]], engine: str) -> bool:
    """Whether ``engine`` has an attempt that started and has not ended (a kill now lands mid-task)."""
    open_ = Counter()
    for m in marks:
        if m[3] == engine:
            open_[(m[0], m[1], m[2])] += 1 if m[4] == "start" else -1
    return any(v > 0 for v in open_.values())


def marked_processes(run_ids: set[str]) -> list[int]:
    """Processes still alive (not zombies) carrying one of these runs' marker, or in a session of one."""
    from wishstar.engine.executors.procs import leftovers

    return sorted({pid for run_id in run_ids for pid in leftovers(run_id)})


def run_scenario(tmp: Path, url: str | None, gitlab: StandIn, *, backend: str, events: int, kills: int,
                 seed: int, timeout_s: float = 240.0) -> Outcome:
    """Send ``events`` push events while killing and restarting the server ``kills`` times; wait for every run."""
    rng = random.Random(seed)
    markers = tmp / "markers"
    _repo(tmp / "repo", markers)
    shas = _commits(tmp / "repo", events)
    cfg = Settings(state_dir=tmp / "state", database_url=url)
    store = Store.open(url, cfg.state_dir)
    Projects(store).add(gitlab_url=gitlab.url, gitlab_id=PROJECT, path="group/app", hook_secret=SECRET,
                        now=time.time(), api_token=TOKEN, clone_url=str(tmp / "repo"))
    port = _free_port()
    server = Server(tmp, url, f"http://127.0.0.1:{port}", port)
    figures = Figures(backend, events, kills)
    restarted: set[tuple[str, str]] = set()
    kills_at: dict[str, float] = {}
    reaped: list[str] = []
    began = time.monotonic()

    def watch() -> None:
        for run in store.list_runs(limit=1000):
            if run.status in FINAL:
                continue
            for task in store.get_run(run.id).tasks:
                if "engine restarted" in (task.reason or ""):
                    restarted.add((run.id, task.name))

    def pause(seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            watch()
            time.sleep(0.05)

    sender = Sender(port, [push_to("main", project_id=PROJECT, after=sha, message=f"change {i}")
                           for i, sha in enumerate(shas)], gitlab.url, rng)
    try:
        server.start()
        sender.start()
        for k in range(kills):
            pause(rng.uniform(0.5, 2.5))
            engine = f"{socket.gethostname()}:{server.proc.pid if server.proc else 0}"
            deadline = time.monotonic() + 20
            while not _running_now(read_markers(markers), engine) and time.monotonic() < deadline:
                pause(0.05)
            pause(rng.uniform(0.0, 1.5))
            kills_at[server.kill()] = time.time()
            if k == 0:  # a CLI command while the server is down must not fail its runs
                from wishstar.cli.common import open_store

                with open_store(cfg) as cli_store:
                    reaped = [r for r in cli_store.list_runs(status="failed", limit=1000)
                              if "is gone" in (r.reason or "")]
            server.start()
        sender.join(timeout=120)
        assert sender.error is None, sender.error
        assert not sender.is_alive(), "the sender did not finish"
        deadline = time.monotonic() + timeout_s
        while True:
            found = [Events(store).get(e) for e in sender.accepted]
            runs = [store.get_run(e.run_id) for e in found if e.run_id]
            delivered = all(gitlab.states(sha)[-1:] in (["success"], ["failed"]) for sha in shas)
            if len(runs) == len(found) and all(r.status in FINAL for r in runs) and delivered:
                break
            assert time.monotonic() < deadline, (server.log_tail(), [(r.id, r.status) for r in runs])
            pause(0.2)
        figures.seconds = round(time.monotonic() - began, 1)
        server.stop()
        stored = len(store.list_runs(limit=10_000))
    finally:
        server.stop()
    marks = read_markers(markers)
    starts = Counter((m[0], m[1]) for m in marks if m[4] == "start")
    figures.runs = len(runs)
    figures.green = sum(r.status == "succeeded" for r in runs)
    figures.reattempted = sum(n - 1 for n in starts.values())
    figures.engine_restarted_seen = len(restarted)
    outcome = Outcome(figures, sender.accepted, runs, stored, marks, kills_at,
                      {sha: gitlab.states(sha) for sha in shas}, marked_processes({r.id for r in runs}),
                      [r.id for r in reaped])
    store.close()
    return outcome


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
