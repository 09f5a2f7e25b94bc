"""A restarted server finishes what it had started, at scale: N push events, K SIGKILLs of ``wishstar serve``.

    export WISHSTAR_TEST_POSTGRES_URL=$(scripts/postgres.sh start)   # for --backends postgres
    .venv/bin/python bench/restart_kills.py [--events 30] [--kills 8] [--seed 9] [--backends sqlite postgres]

The scenario of tests/webhook/test_restart.py (tests/webhook/kill_restart.py), bigger: a real ``wishstar serve``
process with the local executor receives one GitLab push event per commit over HTTP (a four-task green
pipeline, 3.7 s of sleeps on its critical path), is SIGKILLed at random moments (seeded) while a task runs,
and is started again each time; GitLab is the stand-in. The clock runs from the first start to the last
run's final status reaching the stand-in. Prints one JSON line per backend (events, kills, runs, green runs,
re-attempted task attempts, tasks seen with the reason "engine restarted", processes left behind,
seconds); asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.gitlab_standin import StandIn, start
from tests.webhook.kill_restart import kill_all, run_scenario
from tests.webhook.test_worker_support import pg_schema_url


def measure(backend: str, events: int, kills: int, seed: int) -> dict[str, object]:
    gitlab = StandIn()
    server, thread = start(gitlab)
    gitlab.add_project(42, "group/app")
    admin = schema = None
    url = None
    if backend == "postgres":
        url, admin, schema = pg_schema_url()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            outcome = run_scenario(Path(tmp), url, gitlab, backend=backend, events=events, kills=kills, seed=seed,
                                   timeout_s=600)
            kill_all(outcome.left_behind)
        once = len({r.id for r in outcome.runs}) == len(outcome.accepted) == outcome.stored_runs
        out = {**outcome.figures.as_dict(), "one_run_per_event": once,
               "left_behind": len(outcome.left_behind), "reaped_while_down": len(outcome.reaped_while_down)}
        print(json.dumps(out), flush=True)
        return out
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        if admin is not None:
            from sqlalchemy import text

            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--backends", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"])
    args = parser.parse_args()
    for backend in args.backends:
        measure(backend, args.events, args.kills, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
