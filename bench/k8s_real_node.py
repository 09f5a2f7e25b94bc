"""A 3-task pipeline of real containers on the real node: wall time vs the sum of its steps' own run times.

    .venv/bin/python bench/k8s_real_node.py --kubeconfig DIR/kubeconfig [--rounds 3] [--sleep 2]

Starts the real node (tests/k8s/node.py: containerd, runc, a kubelet registered with the cluster in DIR;
busybox from the local registry) and runs ``a -> b -> c``, each step ``sleep S``, through the runner and the
Kubernetes executor, keeping the Pods so that each container's ``startedAt``/``finishedAt`` can be read.
Overhead = wall - sum(finishedAt - startedAt): Pod creation, scheduling, sandbox and container start, the
watch, and the engine's decision between tasks. Container timestamps have a resolution of one second, so the
sum is only good to about +/- 1 s per step; the step length makes that visible. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.k8s.cluster import Cluster
from tests.k8s.node import RealNode, cluster_ref
from tests.k8s.test_executor import compile_text
from tests.k8s.test_executor_real_node import on_node
from wishstar.engine.compiler.placement import apply_placement
from wishstar.engine.compiler.types import GitContext, RunContext
from wishstar.engine.executors.base import RunEnv
from wishstar.engine.executors.kubernetes import AttemptOptions, KubernetesConfig, KubernetesExecutor
from wishstar.engine.executors.kubernetes.objects import run_selector
from wishstar.engine.runner import Runner, RunOptions, base_env
from wishstar.engine.store.api import Store
from wishstar.engine.store.logs import LogStore


def _ts(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else datetime.fromisoformat(str(value)).timestamp()


def one_round(cluster: Cluster, node: RealNode, sleep_s: float, placement: str = "pod-per-task") -> dict[str, float]:
    namespace = cluster.create_namespace("bench")
    try:
        with tempfile.TemporaryDirectory() as tmp_dir:
            tmp = Path(tmp_dir)
            store = Store.open(None, tmp)
            run_id, number = store.create_run("real", git={"branch": "main"})
            ctx = RunContext(run_id=run_id, number=number, namespace=namespace,
                             git=GitContext(branch="main", commit="abc"), default_image=node.images["busybox"])
            plan = compile_text(f"""
                name: real
                placement: {placement}
                tasks:
                  a:
                    script: sleep {sleep_s:g}
                  b:
                    needs: [a]
                    script: sleep {sleep_s:g}
                  c:
                    needs: [b]
                    script: sleep {sleep_s:g}
                """, ctx)
            plan = apply_placement(plan)
            config = KubernetesConfig(namespace=namespace, kubeconfig=str(cluster.kubeconfig), keep=True,
                                      attempt=AttemptOptions(delete_grace_s=1, image_pull_grace_s=60))
            executor = KubernetesExecutor(on_node(plan, ctx, node), config)
            runner = Runner(plan, ctx, executor, store, LogStore(tmp), RunEnv(run_id, str(tmp / "run"), None,
                                                                              plan.workspaces),
                            secrets={}, base_env=base_env(ctx, plan.pipeline, {"PATH": "/usr/bin"}),
                            options=RunOptions(concurrency=4))
            start = time.perf_counter()
            state = asyncio.run(runner.run())
            wall = time.perf_counter() - start
            store.close()
        assert str(state.status) == "succeeded", state
        pods = cluster.core.list_namespaced_pod(namespace, label_selector=run_selector(run_id)).items
        steps = 0.0
        for pod in pods:
            for status in pod.status.container_statuses or []:
                term = status.state.terminated
                steps += _ts(term.finished_at) - _ts(term.started_at)
        return {"wall_s": wall, "steps_s": steps, "pods": len(pods)}
    finally:
        cluster.delete_namespace(namespace)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sleep", type=float, default=2.0)
    parser.add_argument("--placement", choices=["pod-per-task", "one-pod", "both"], default="both",
                        help="both: interleaved rounds of each, to measure what one Pod for the chain saves")
    args = parser.parse_args()
    placements = ["pod-per-task", "one-pod"] if args.placement == "both" else [args.placement]
    cluster = Cluster(kubeconfig=Path(args.kubeconfig))
    with tempfile.TemporaryDirectory() as node_dir:
        node = RealNode.start(cluster_ref(cluster), Path(node_dir))
        try:
            print(json.dumps({"node_start_s": round(node.start_seconds, 1)}), flush=True)
            one_round(cluster, node, args.sleep)  # warm-up: the image pull and the first sandbox
            rounds: dict[str, list[dict[str, float]]] = {p: [] for p in placements}
            for _ in range(args.rounds):
                for placement in placements:
                    rounds[placement].append(one_round(cluster, node, args.sleep, placement))
        finally:
            node.stop()
    for placement, results in rounds.items():
        for r in results:
            print(json.dumps({"placement": placement, **{k: round(v, 2) for k, v in r.items()}}), flush=True)
        wall = statistics.median(r["wall_s"] for r in results)
        steps = statistics.median(r["steps_s"] for r in results)
        print(json.dumps({"placement": placement, "rounds": len(results), "wall_p50_s": round(wall, 2),
                          "steps_sum_p50_s": round(steps, 2), "overhead_s": round(wall - steps, 2),
                          "wall_over_steps": round(wall / steps, 2),
                          "overhead_per_task_s": round((wall - steps) / 3, 2)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
