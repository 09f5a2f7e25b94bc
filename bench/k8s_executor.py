"""The Kubernetes executor on KWOK nodes: Pod creation rate, the gap between serial tasks, memory under watch.

    .venv/bin/python bench/k8s_executor.py --kubeconfig DIR/kubeconfig fanout   # 200 Pods at 3 QPS settings
    .venv/bin/python bench/k8s_executor.py --kubeconfig DIR/kubeconfig serial   # 10-task chain, 0 s Pods
    .venv/bin/python bench/k8s_executor.py --kubeconfig DIR/kubeconfig memory   # RSS watching 1,000 Pods

Start a cluster first (``scripts/cluster.sh up DIR``). Each measure runs the real runner and executor, in a
fresh namespace, against the real API server; Pods go to KWOK nodes through the same ``ManifestSource`` as
tests/k8s/test_executor.py. Times are taken in this process: the executor's client is wrapped to note when a
Pod's POST starts and returns, and the namespace watch's Pod handler to note when a Pod is first seen
Succeeded. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.k8s.cluster import Cluster
from wishstar.engine.compiler.types import GitContext, RunContext
from wishstar.engine.executors.base import RunEnv
from wishstar.engine.executors.kubernetes import (
    AttemptOptions,
    KubernetesConfig,
    KubernetesExecutor,
    watching,
)
from wishstar.engine.runner import Runner, RunOptions, base_env
from wishstar.engine.store.api import Store
from wishstar.engine.store.logs import LogStore

SETTINGS = [("Tekton default", 5.0, 10), ("Argo default", 20.0, 30), ("Wishstar default", 50.0, 100)]


class Marks:
    """Wall-clock notes from inside the engine: Pod POST start/end by name, first Succeeded seen by name."""

    def __init__(self) -> None:
        self.post_start: dict[str, float] = {}
        self.post_end: dict[str, float] = {}
        self.succeeded: dict[str, float] = {}

    def instrument(self, executor: KubernetesExecutor) -> None:
        create = executor.client.create

        async def timed(collection: str, manifest: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            name = manifest["metadata"]["name"]
            is_pod = collection.endswith("/pods")
            if is_pod:
                self.post_start.setdefault(name, time.perf_counter())
            result = await create(collection, manifest, *args, **kwargs)
            if is_pod:
                self.post_end.setdefault(name, time.perf_counter())
            return result

        executor.client.create = timed  # type: ignore[method-assign]
        original = watching.NamespaceWatch._on_pod
        marks = self

        def on_pod(watch: watching.NamespaceWatch, kind: str, pod: dict[str, Any]) -> None:
            if (pod.get("status") or {}).get("phase") == "Succeeded":
                marks.succeeded.setdefault(pod["metadata"]["name"], time.perf_counter())
            original(watch, kind, pod)

        watching.NamespaceWatch._on_pod = on_pod  # type: ignore[method-assign]


def run_pipeline(cluster: Cluster, tmp: Path, text: str, annotations: dict[str, str], *, qps: float,
                 burst: int, concurrency: int) -> tuple[Marks, float, float, str]:
    """Run ``text`` on KWOK; returns the marks, run start and end (perf_counter) and the run's status."""
    from tests.k8s.test_executor import compile_text, kwok_source

    namespace = cluster.create_namespace("bench")
    store = Store.open(None, tmp)
    try:
        run_id, number = store.create_run("bench", git={"branch": "main"})
        ctx = RunContext(run_id=run_id, number=number, namespace=namespace, git=GitContext(branch="main", commit="abc"))
        plan = compile_text(text, ctx)
        config = KubernetesConfig(namespace=namespace, kubeconfig=str(cluster.kubeconfig), qps=qps, burst=burst,
                                  attempt=AttemptOptions(stream_logs=False, delete_grace_s=0))
        all_tasks = {t.name: annotations for t in plan.all_tasks()}
        executor = KubernetesExecutor(kwok_source(plan, ctx, all_tasks), config)
        marks = Marks()
        marks.instrument(executor)
        runner = Runner(plan, ctx, executor, store, LogStore(tmp), RunEnv(run_id, str(tmp / "run"), None,
                                                                          plan.workspaces),
                        secrets={}, base_env=base_env(ctx, plan.pipeline, {"PATH": "/usr/bin"}),
                        options=RunOptions(concurrency=concurrency))
        start = time.perf_counter()
        state = asyncio.run(runner.run())
        end = time.perf_counter()
        return marks, start, end, str(state.status)
    finally:
        store.close()
        cluster.delete_namespace(namespace)


def fanout(cluster: Cluster, tasks: int) -> dict[str, Any]:
    text = "name: fan\ntasks:\n" + "".join(f"  t{i:03d}:\n    script: \"true\"\n" for i in range(tasks))
    out = {}
    for label, qps, burst in SETTINGS:
        with tempfile.TemporaryDirectory() as tmp:
            marks, start, end, status = run_pipeline(cluster, Path(tmp), text, {"kwok.wishstar.dev/delay": "0s"},
                                                     qps=qps, burst=burst, concurrency=tasks)
        created = sorted(marks.post_end.values())
        all_created = created[-1] - start
        out[label] = {"qps": qps, "burst": burst, "pods": len(created), "all_created_s": round(all_created, 2),
                      "pods_per_s": round(len(created) / all_created, 1), "run_s": round(end - start, 2),
                      "status": status}
        print(json.dumps({label: out[label]}), flush=True)
    return out


def serial(cluster: Cluster, tasks: int, rounds: int) -> dict[str, Any]:
    lines = ["name: chain", "tasks:"]
    for i in range(tasks):
        lines += [f"  t{i:02d}:", '    script: "true"'] + ([f"    needs: [t{i - 1:02d}]"] if i else [])
    text = "\n".join(lines) + "\n"
    decide, created, walls = [], [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            marks, start, end, status = run_pipeline(cluster, Path(tmp), text, {"kwok.wishstar.dev/delay": "0s"},
                                                     qps=50, burst=100, concurrency=4)
        names = sorted(marks.post_start)  # t00..t09 sort by name as by order
        for prev, nxt in itertools.pairwise(names):
            decide.append(marks.post_start[nxt] - marks.succeeded[prev])
            created.append(marks.post_end[nxt] - marks.succeeded[prev])
        walls.append(end - start)
        assert status == "succeeded", status
    out = {"tasks": tasks, "rounds": rounds, "gaps": len(decide),
           "succeeded_seen_to_next_post_p50_ms": round(statistics.median(decide) * 1000, 1),
           "succeeded_seen_to_next_created_p50_ms": round(statistics.median(created) * 1000, 1),
           "succeeded_seen_to_next_created_p90_ms": round(statistics.quantiles(created, n=10)[-1] * 1000, 1),
           "run_wall_p50_s": round(statistics.median(walls), 2)}
    print(json.dumps(out), flush=True)
    return out


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def memory(cluster: Cluster, pods: int) -> dict[str, Any]:
    """RSS of a fresh engine process before and after its executor's watch lists and follows ``pods``
    Running Pods of one run. The Pods are made by another process, so that this figure is the engine's."""
    namespace = cluster.create_namespace("bench")
    try:
        me = [sys.executable, __file__, "--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace,
              "--tasks", str(pods)]
        t0 = time.perf_counter()
        subprocess.run([*me, "make-pods"], check=True)
        made = time.perf_counter() - t0
        child = subprocess.run([*me, "watch-rss"], check=True, capture_output=True, text=True)
        out = {"pods": pods, "create_s": round(made, 1), **json.loads(child.stdout.splitlines()[-1])}
        print(json.dumps(out), flush=True)
        return out
    finally:
        cluster.delete_namespace(namespace)


def make_pods(cluster: Cluster, namespace: str, pods: int) -> None:
    """``pods`` KWOK Pods that stay Running, labelled as one run's (what the executor's watch selects)."""
    from concurrent.futures import ThreadPoolExecutor

    from kubernetes import client

    from tests.k8s.cluster import kwok_pod
    from wishstar.engine.executors.kubernetes.objects import RUN_LABEL

    api = client.CoreV1Api(cluster.api_client)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: api.create_namespaced_pod(namespace, kwok_pod(  # type: ignore[arg-type]
            f"p{i:04d}", mode="run", labels={RUN_LABEL: "bench-run"})), range(pods)))


def watch_rss(cluster: Cluster, namespace: str, pods: int) -> None:
    """In this (fresh) process: RSS after imports, then with an executor watching the namespace's Pods."""
    before = rss_mb()

    async def watch() -> tuple[float, int, int]:
        executor = KubernetesExecutor(lambda t: None,  # type: ignore[arg-type,return-value]
                                      KubernetesConfig(namespace=namespace, kubeconfig=str(cluster.kubeconfig)))
        await executor.setup(RunEnv("bench-run", "/tmp", None, ()))
        assert executor.watch is not None
        deadline = time.monotonic() + 120
        while sum(1 for p in executor.watch.pods.values()
                  if (p.get("status") or {}).get("phase") == "Running") < pods:
            assert time.monotonic() < deadline, len(executor.watch.pods)
            await asyncio.sleep(0.2)
        await asyncio.sleep(5)  # let events arrive and settle
        seen, events = len(executor.watch.pods), sum(len(q) for q in executor.watch.events.values())
        after = rss_mb()
        executor.close()
        return after, seen, events

    after, seen, events = asyncio.run(watch())
    print(json.dumps({"watched": seen, "events_kept": events, "rss_before_mb": round(before, 1),
                      "rss_after_mb": round(after, 1), "delta_mb": round(after - before, 1)}), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("what", choices=["fanout", "serial", "memory", "make-pods", "watch-rss"])
    parser.add_argument("--namespace", help="make-pods, watch-rss: the namespace (memory makes one)")
    parser.add_argument("--tasks", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cluster = Cluster(kubeconfig=Path(args.kubeconfig))
    measure: Callable[[], Any] = {
        "fanout": lambda: fanout(cluster, args.tasks or 200),
        "serial": lambda: serial(cluster, args.tasks or 10, args.rounds),
        "memory": lambda: memory(cluster, args.tasks or 1000),
        "make-pods": lambda: make_pods(cluster, args.namespace, args.tasks or 1000),
        "watch-rss": lambda: watch_rss(cluster, args.namespace, args.tasks or 1000),
    }[args.what]
    measure()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
