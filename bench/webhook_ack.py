"""Benchmark: webhook acknowledgement latency under 50 concurrent senders, on loopback, SQLite and PostgreSQL.

The server runs in its own process (``wishstar serve``'s code path: ``webhook.serve.server``, workers off so
that only the receiver is measured) on a fresh state directory, with one registered project. Each of
``--senders`` threads keeps one HTTP connection and posts GitLab's documented push payload (a distinct branch
per delivery, so every delivery is a new stored event) with GitLab's headers, ``--per-sender`` times after a
warm-up; the latency is the time from sending the request to reading the whole answer. Every answer must be
202. Target (issue 5): p99 under 50 ms (GitLab waits 10 s). No timing is asserted: this prints numbers.

    .venv/bin/python bench/webhook_ack.py [--senders 50] [--per-sender 40] [--interval S] [--postgres-url URL]

``--interval 0`` (the default) sends back to back: a saturation test, where latency is bounded by throughput
(Little's law: 50 in flight / N per second). ``--interval 0.5`` is 50 senders each delivering about twice a
second (~100 deliveries/s offered), the load a busy GitLab instance produces.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "bench-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _payload() -> dict[str, Any]:
    from tests.conformance import conformance_dir

    found = conformance_dir()
    if found is None:
        raise SystemExit("conformance data not found (../shared/conformance or WISHSTAR_CONFORMANCE_DIR)")
    data: dict[str, Any] = json.loads((found / "gitlab" / "push.json").read_text())
    return data


def _serve(port: int, state_dir: str, url: str | None) -> None:
    """The child process: the server, receive-only."""
    from wishstar.pipelines.settings import Settings
    from wishstar.webhook.serve import server

    settings = Settings(state_dir=Path(state_dir), database_url=url or None)
    server(settings, "127.0.0.1", port, start_workers=False, log_level="warning").run()


def _prepare(state_dir: Path, url: str | None) -> None:
    from wishstar.engine.store.api import Store
    from wishstar.engine.store.server import Projects

    with Store.open(url, state_dir) as store:
        Projects(store).add(gitlab_url="https://gitlab.example.com", gitlab_id=15, path="mike/diaspora",
                            hook_secret=SECRET, now=time.time())


def _sender(base: str, template: dict[str, Any], n: int, tag: str, out: list[float], codes: list[int],
            interval: float) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(n):
            if interval:  # the first delivery too: senders start spread out, not as one burst
                time.sleep(interval * (0.5 + secrets.randbelow(1000) / 1000))
            payload = dict(template, ref=f"refs/heads/bench-{tag}-{i}")
            body = json.dumps(payload).encode()
            headers = {"Content-Type": "application/json", "User-Agent": "GitLab/17.5.0",
                       "X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET,
                       "X-Gitlab-Instance": "https://gitlab.example.com", "Idempotency-Key": str(uuid.uuid4()),
                       "X-Gitlab-Event-UUID": str(uuid.uuid4()), "X-Gitlab-Webhook-UUID": str(uuid.uuid4())}
            start = time.perf_counter()
            response = client.post("/hooks/gitlab", content=body, headers=headers)
            out.append(time.perf_counter() - start)
            codes.append(response.status_code)


def _round(base: str, senders: int, per_sender: int, tag: str,
           interval: float = 0.0) -> tuple[list[float], list[int], float]:
    template = _payload()
    latencies: list[float] = []
    codes: list[int] = []
    threads = [threading.Thread(target=_sender, args=(base, template, per_sender, f"{tag}{k}", latencies, codes,
                                                     interval))
               for k in range(senders)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, codes, time.perf_counter() - start


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _schema_url(base: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    schema = f"bench_{secrets.token_hex(4)}"
    with create_engine(base, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def _drop_schema(base: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    with create_engine(base, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def measure(backend: str, url: str | None, senders: int, per_sender: int, interval: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wishstar-bench-") as tmp:
        state = Path(tmp) / "state"
        _prepare(state, url)
        port = _free_port()
        child = subprocess.Popen([sys.executable, __file__, "--serve", str(port), str(state), url or ""],
                                 cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        base = f"http://127.0.0.1:{port}"
        try:
            _wait(base)
            _round(base, senders, 2, "warm")
            latencies, codes, wall = _round(base, senders, per_sender, "m", interval)
        finally:
            child.terminate()
            child.wait(15)
    bad = [c for c in codes if c != 202]
    return {"backend": backend, "senders": senders, "interval_s": interval, "deliveries": len(latencies),
            "non_202": len(bad),
            "p50_ms": round(_pct(latencies, 0.50), 1), "p90_ms": round(_pct(latencies, 0.90), 1),
            "p99_ms": round(_pct(latencies, 0.99), 1), "max_ms": round(max(latencies) * 1000, 1),
            "mean_ms": round(statistics.mean(latencies) * 1000, 1),
            "per_second": round(len(latencies) / wall)}


def _wait(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit("the server did not start")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        _serve(int(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--per-sender", type=int, default=40)
    parser.add_argument("--postgres-url", default=os.environ.get("WISHSTAR_TEST_POSTGRES_URL"))
    parser.add_argument("--interval", type=float, default=0.0,
                        help="mean pause between one sender's deliveries (0: back to back, i.e. saturation)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [measure("sqlite", None, args.senders, args.per_sender, args.interval)]
    if args.postgres_url:
        url, schema = _schema_url(args.postgres_url)
        try:
            results.append(measure("postgresql", url, args.senders, args.per_sender, args.interval))
        finally:
            _drop_schema(args.postgres_url, schema)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'backend':<11} {'interval':>8} {'senders':>7} {'deliveries':>10} {'p50 ms':>7} {'p90 ms':>7} "
          f"{'p99 ms':>7} {'max ms':>7} {'per s':>6} {'non-202':>7}")
    for r in results:
        print(f"{r['backend']:<11} {r['interval_s']:>8} {r['senders']:>7} {r['deliveries']:>10} {r['p50_ms']:>7} "
              f"{r['p90_ms']:>7} {r['p99_ms']:>7} {r['max_ms']:>7} {r['per_second']:>6} {r['non_202']:>7}")


if __name__ == "__main__":
    main()
