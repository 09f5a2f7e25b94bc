"""Benchmark: `list_runs(branch=X, status='failed', limit=50)` over 100,000 runs in a fresh SQLite store.

Inserts the runs in bulk (one transaction, executemany), then times the query 200 times through the Store API
and, when the CLI exists, as `wishstar runs list` subprocesses. Prints p50/p99 in milliseconds.

    .venv/bin/python bench/runs_list.py [--runs 100000] [--repeat 200]
"""

from __future__ import annotations

import argparse
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wishstar.engine.store import Store, db
from wishstar.engine.store.models import pipelines, runs

ROOT = Path(__file__).resolve().parent.parent
PIPELINES = ["ci", "deploy", "nightly", "release", "docs"]
BRANCHES = ["main", "dev"] + [f"feature/{i}" for i in range(48)]
STATUSES = ["succeeded"] * 6 + ["failed"] * 2 + ["cancelled", "running"]
T0 = 1_700_000_000.0


def populate(store: Store, count: int) -> float:
    rng = random.Random(7)
    numbers = dict.fromkeys(PIPELINES, 0)
    rows = []
    for i in range(count):
        pipeline = rng.choice(PIPELINES)
        numbers[pipeline] += 1
        branch = rng.choice(BRANCHES)
        created = T0 + i * 30
        rows.append({"id": secrets.token_hex(6), "pipeline": pipeline, "number": numbers[pipeline],
                     "status": rng.choice(STATUSES), "reason": None, "params": {},
                     "git": {"branch": branch, "commit": secrets.token_hex(20)}, "branch": branch,
                     "event": "push", "executor": "local", "file": ".wishstar.yaml", "host": "bench",
                     "pid": 1,
                     "created_at": created, "started_at": created + 1, "finished_at": created + 120,
                     "cancel_requested": False})
    start = time.perf_counter()
    with db.write(store.engine) as conn:
        conn.execute(pipelines.insert(), [{"name": p, "last_number": n} for p, n in numbers.items()])
        conn.execute(runs.insert(), rows)
    return time.perf_counter() - start


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def time_api(store: Store, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        rows = store.list_runs(branch="main", status="failed", limit=50)
        samples.append(time.perf_counter() - start)
    assert len(rows) == 50, rows
    return samples


def time_cli(state_dir: Path, repeat: int) -> list[float] | None:
    if not (ROOT / "cli" / "main.py").exists():
        return None
    exe = shutil.which("wishstar") or str(Path(sys.executable).parent / "wishstar")
    command = [exe, "runs", "list", "--state-dir", str(state_dir), "--branch", "main", "--status", "failed",
               "--limit", "50"]
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--cli-repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp)
        start = time.perf_counter()
        store = Store.open(None, state_dir)
        print(f"open + migrate a new store: {(time.perf_counter() - start) * 1000:.1f} ms")
        took = populate(store, args.runs)
        print(f"bulk insert of {args.runs} runs: {took:.2f} s")
        store.close()
        start = time.perf_counter()
        store = Store.open(None, state_dir)
        print(f"reopen (already at head): {(time.perf_counter() - start) * 1000:.1f} ms")
        p50, p99 = percentiles(time_api(store, args.repeat))
        print(f"Store.list_runs(branch='main', status='failed', limit=50) x{args.repeat}: "
              f"p50 {p50:.2f} ms, p99 {p99:.2f} ms")
        store.close()
        cli = time_cli(state_dir, args.cli_repeat)
        if cli is None:
            print("wishstar runs list: skipped (cli/main.py does not exist yet)")
        else:
            p50, p99 = percentiles(cli)
            print(f"wishstar runs list --branch main --status failed x{args.cli_repeat}: "
                  f"p50 {p50:.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
