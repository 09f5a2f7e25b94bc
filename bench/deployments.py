"""Benchmark: "what is deployed for project X" over 2,000 recorded releases (10,000 revisions), SQLite and
PostgreSQL.

Bulk-inserts PROJECTS x RELEASES releases with REVISIONS revisions each (one run per revision), then times
``Deployments.current(project)`` (the function ``wishstar deployments`` and the API call) on random projects,
the same question through the API (FastAPI's TestClient: routing, token check, JSON), a release's history and
where a digest is deployed; prints p50/p99 in milliseconds and the database's plan for the current-releases
query (it must use ``ix_deployments_project_release``).

    .venv/bin/python bench/deployments.py [--projects 200] [--releases 10] [--revisions 5] [--repeat 500]
        [--postgres URL]   # also on PostgreSQL, in a schema of its own (dropped afterwards)
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from wishstar.engine.store import Store, db
from wishstar.engine.store.deployments import Deployments, current_query
from wishstar.engine.store.models import deployments, pipelines, runs

T0 = 1_700_000_000.0


def populate(store: Store, projects: int, releases: int, revisions: int) -> tuple[float, int]:
    """Runs and their deployments, in one transaction; returns (seconds, rows)."""
    rng = random.Random(7)
    run_rows, deploy_rows, numbers = [], [], {}
    for p in range(projects):
        project = f"group-{p % 20}/app-{p}"
        numbers[project] = 0
        for r in range(releases):
            namespace = ("prod", "staging", "dev")[r % 3]
            for revision in range(1, rng.randint(max(1, revisions - 2), revisions + 2) + 1):
                numbers[project] += 1
                run_id, at = secrets.token_hex(6), T0 + len(run_rows) * 60
                git = {"branch": "main", "commit": secrets.token_hex(20)}
                run_rows.append({"id": run_id, "pipeline": project, "number": numbers[project],
                                 "status": "succeeded", "params": {}, "git": git, "branch": "main",
                                 "created_at": at, "cancel_requested": False})
                deploy_rows.append({"run_id": run_id, "pipeline": project, "run_number": numbers[project],
                                    "task": "deploy", "project": project, "namespace": namespace,
                                    "release": f"app-{p}-{r}", "revision": revision, "chart": "app",
                                    "chart_version": "0.3.0", "image": f"registry.local/{project}",
                                    "image_digest": "sha256:" + secrets.token_hex(32), "commit": git["commit"],
                                    "ref": "main", "deployed_at": at, "status": "deployed"})
    start = time.perf_counter()
    with db.write(store.engine) as conn:
        conn.execute(pipelines.insert(), [{"name": p, "last_number": n} for p, n in numbers.items()])
        conn.execute(runs.insert(), run_rows)
        conn.execute(deployments.insert(), deploy_rows)
        conn.execute(text("ANALYZE"))
    return time.perf_counter() - start, len(deploy_rows)


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def timed(call: Callable[[], Any], repeat: int) -> list[float]:
    call()  # warm-up: connection pool, statement cache
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def plan(store: Store, project: str) -> list[str]:
    """The database's own plan for ``current_query(project)`` (the values inlined: both dialects EXPLAIN it)."""
    sql = str(current_query(project).compile(store.engine, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN QUERY PLAN " if store.engine.dialect.name == "sqlite" else "EXPLAIN (ANALYZE, COSTS OFF) "
    with db.read(store.engine) as conn:
        return [str(row[-1]) for row in conn.execute(text(prefix + sql)).all()]


def report(label: str, samples: list[float]) -> None:
    p50, p99 = percentiles(samples)
    print(f"  {label}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")


def bench(name: str, url: str | None, state_dir: Path, args: argparse.Namespace) -> None:
    store = Store.open(url, state_dir)
    took, count = populate(store, args.projects, args.releases, args.revisions)
    print(f"{name}: {count} deployments of {args.projects * args.releases} releases inserted in {took:.2f} s")
    rng = random.Random(11)
    names = [f"group-{p % 20}/app-{p}" for p in range(args.projects)]
    query = Deployments(store)
    assert len(query.current(names[0])) == args.releases
    report(f"Deployments.current(project) x{args.repeat}",
           timed(lambda: query.current(rng.choice(names)), args.repeat))
    report(f"Deployments.history(release, namespace) x{args.repeat}",
           timed(lambda: query.history(f"app-{rng.randrange(args.projects)}-0", namespace="prod"), args.repeat))
    digests = _some_digests(store, 50)
    report(f"Deployments.where(digest) x{args.repeat}", timed(lambda: query.where(rng.choice(digests)), args.repeat))
    print("  plan of current(project)" + (" (PostgreSQL: with the server's own execution time)"
                                           if store.engine.dialect.name == "postgresql" else "") + ":")
    for line in plan(store, names[0]):
        print(f"    {line}")
    store.close()
    if not args.no_api:
        _bench_api(url, state_dir, names, args.repeat, rng)


def _some_digests(store: Store, count: int) -> list[str]:
    with db.read(store.engine) as conn:
        return [str(d) for d in conn.execute(deployments.select().with_only_columns(deployments.c.image_digest)
                                             .limit(count)).scalars()]


def _bench_api(url: str | None, state_dir: Path, names: list[str], repeat: int, rng: random.Random) -> None:
    """The same question over HTTP: FastAPI's TestClient (in process), then a real uvicorn on loopback."""
    from fastapi.testclient import TestClient

    from wishstar.engine.store.tokens import ApiTokens
    from wishstar.pipelines.settings import Settings
    from wishstar.webhook.app import create_app

    settings = Settings(state_dir=state_dir, database_url=url)
    with Store.open(url, state_dir) as store:
        token = ApiTokens(store).create(f"bench-{secrets.token_hex(3)}", ["read"], None, now=time.time(),
                                        expires_at=None)[1]
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings, start_workers=False), headers=headers) as client:
        report(f"GET /api/projects/{{project}}/deployments, TestClient x{repeat}",
               timed(lambda: _ask(client, rng.choice(names)), repeat))
    with _uvicorn(settings) as base, httpx.Client(base_url=base, headers=headers) as http:
        report(f"GET /api/projects/{{project}}/deployments, `wishstar serve` (uvicorn) on loopback x{repeat}",
               timed(lambda: _ask(http, rng.choice(names)), repeat))


def _ask(client: httpx.Client, project: str) -> None:
    answer = client.get(f"/api/projects/{project}/deployments")
    assert answer.status_code == 200 and answer.json(), answer.text


@contextmanager
def _uvicorn(settings: Any) -> Iterator[str]:
    """``wishstar serve --no-workers`` as its own process (uvicorn, as deployed) on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WISHSTAR_")}
    if settings.database_url:
        env["WISHSTAR_DATABASE_URL"] = settings.database_url
    proc = subprocess.Popen([sys.executable, "-m", "wishstar.cli", "serve", "--no-workers", "--port", str(port),
                             "--state-dir", str(settings.state_dir)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.wait(15)


@contextmanager
def postgres_schema(base: str) -> Iterator[str]:
    schema = f"bench_{secrets.token_hex(4)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--releases", type=int, default=10)
    parser.add_argument("--revisions", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=500)
    parser.add_argument("--postgres", metavar="URL", help="also on this PostgreSQL server (a fresh schema)")
    parser.add_argument("--no-api", action="store_true", help="skip the API measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench("SQLite", None, Path(tmp) / "sqlite", args)
        if args.postgres:
            with postgres_schema(args.postgres) as url:
                bench("PostgreSQL", url, Path(tmp) / "postgres", args)


if __name__ == "__main__":
    main()
