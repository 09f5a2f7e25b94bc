"""Single-task pipelines per minute through the server's workers on Kubernetes (KWOK): one replica vs three.

    export WISHSTAR_TEST_POSTGRES_URL=$(scripts/postgres.sh start)
    .venv/bin/python bench/server_throughput.py --kubeconfig DIR/kubeconfig [--events 30] [--replicas 1 3]

For each replica count: a fresh PostgreSQL schema and namespace, a registered project whose repository holds
a one-task pipeline, and N replica processes (``python -m wishstar.webhook.worker`` with its executor placing Pods on
KWOK nodes, tests/k8s/test_server_kubernetes.py) started and given time to import and poll. Then the events
are stored at once (as the receiver would store deliveries) and the clock runs from the first insert until
every event's run has finished; each run fetches its commit, compiles, creates its owner object, one Pod
(KWOK: Running then Succeeded at once), follows it, and tears down. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select, text

from tests.k8s.cluster import Cluster
from tests.k8s.test_server_kubernetes import start_replica, stop_all
from tests.webhook.test_worker_support import add_event, make_repo, pg_schema_url, push_payload, register
from wishstar.engine.status import ENDED_RUN_STATUSES
from wishstar.engine.store import db
from wishstar.engine.store.api import Store
from wishstar.engine.store.models import run_leases
from wishstar.engine.store.server import Events

PIPELINE = 'name: app\ntasks:\n  build:\n    script: "true"\n'
FINAL = ENDED_RUN_STATUSES


def measure(cluster: Cluster, replicas: int, events: int, workers: int, settle_s: float) -> dict[str, Any]:
    url, admin, schema = pg_schema_url()
    namespace = cluster.create_namespace("bench")
    procs = []
    try:
        with tempfile.TemporaryDirectory() as tmp_dir:
            tmp = Path(tmp_dir)
            repo = make_repo(tmp / "repo", {".wishstar.yaml": PIPELINE})
            with Store.open(url, tmp / "state") as store:
                project = register(store, str(tmp / "repo"))
                procs = [start_replica(f"r{i}", url, tmp, cluster, namespace, {"kwok.wishstar.dev/delay": "0s"},
                                       keep=False, lease_s=15.0, workers=workers) for i in range(replicas)]
                time.sleep(settle_s)  # imports and the first polls; not part of the figure
                start = time.perf_counter()
                ids = [add_event(store, project, push_payload(repo.head.commit.hexsha))[0] for _ in range(events)]
                finished: dict[str, float] = {}
                deadline = time.monotonic() + 600
                while len(finished) < events:
                    for event_id in ids:
                        if event_id in finished:
                            continue
                        run_id = Events(store).get(event_id).run_id
                        if run_id and store.get_run(run_id).status in FINAL:
                            finished[event_id] = time.perf_counter()
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{len(finished)}/{events} runs finished")
                    time.sleep(0.05)
                wall = max(finished.values()) - start
                statuses = [store.get_run(Events(store).get(e).run_id).status for e in ids]
                with db.read(store.engine) as conn:
                    drivers = Counter(conn.execute(select(run_leases.c.owner)).scalars())
        out = {"replicas": replicas, "workers_per_replica": workers, "events": events, "wall_s": round(wall, 2),
               "runs_per_min": round(events / wall * 60, 1),
               "succeeded": statuses.count("succeeded"), "runs_by_replica": dict(sorted(drivers.items()))}
        print(json.dumps(out), flush=True)
        return out
    finally:
        stop_all(procs)
        cluster.delete_namespace(namespace)
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--workers", type=int, default=2, help="runs each replica drives at once")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds of every replica count")
    parser.add_argument("--settle", type=float, default=6.0)
    args = parser.parse_args()
    cluster = Cluster(kubeconfig=Path(args.kubeconfig))
    for _ in range(args.rounds):
        for count in args.replicas:
            measure(cluster, count, args.events, args.workers, args.settle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
