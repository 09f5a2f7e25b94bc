"""Event accepted (stored by the receiver) to first task started, with the local executor: p50 and p95.

Why: issue 5's second benchmark (target p50 under 0.5 s). A worker runs in this process (SQLite by default,
``--database-url`` for PostgreSQL) and idles as it would in a server; each round stores one push event for a
one-task pipeline in a local git repository and reads the time its step wrote when it started. Included: the
poll interval, claiming, the shallow fetch of the exact commit, validation, recording the run, compiling and
spawning the step. Must not be run by the test suite (it takes a few seconds).

    .venv/bin/python bench/event_to_start.py [--rounds 20] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.webhook.test_worker_support import (
    add_event,
    commit,
    make_repo,
    open_store,
    push_payload,
    register,
    settings,
)
from wishstar.tasks import Library
from wishstar.webhook.worker import Worker


async def measure(rounds: int, url: str | None, tmp: Path) -> list[float]:
    stamp = tmp / "started"
    pipeline = f"name: app\ntasks:\n  first:\n    script: date +%s.%N > {stamp}\n"
    repo = make_repo(tmp / "repo", {".wishstar.yaml": pipeline})
    cfg = settings(tmp, url, workers=2)
    delays = []
    with open_store(cfg) as store:
        project = register(store, str(tmp / "repo"))
        worker = Worker(store, cfg, Library(), owner="bench")
        stop = asyncio.Event()
        serving = asyncio.create_task(worker.serve(stop))
        await asyncio.sleep(0.3)
        for i in range(rounds):
            sha = commit(repo, {"n.txt": str(i)}, f"round {i}")
            stamp.unlink(missing_ok=True)
            accepted = time.time()
            await asyncio.to_thread(add_event, store, project, push_payload(sha))
            while not stamp.exists() or not stamp.read_text().strip():
                await asyncio.sleep(0.005)
            delays.append(float(stamp.read_text()) - accepted)
            while worker.driving:
                await asyncio.sleep(0.01)
        stop.set()
        await serving
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        delays = sorted(asyncio.run(measure(args.rounds, args.database_url, Path(tmp))))
    p95 = delays[min(len(delays) - 1, int(len(delays) * 0.95))]
    print(f"event accepted -> first task started ({args.rounds} rounds, "
          f"{'PostgreSQL' if args.database_url else 'SQLite'}): p50 {statistics.median(delays) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
