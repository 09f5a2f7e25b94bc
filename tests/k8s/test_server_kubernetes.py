"""The server's workers with ``executor: kubernetes`` against the real control plane, Pods on KWOK nodes.

An event becomes a run whose Pods run on KWOK; a chain with ``placement: one-pod`` becomes ONE Pod, as with
``wishstar run --executor kubernetes``; and the restart-safety proof for Kubernetes: a replica is killed with
SIGKILL (or shut down with SIGTERM) while its task's Pod (or its merged chain's) runs, another replica takes the
run over, re-attaches to that same Pod (same uid, same attempt number, no second Pod) and finishes the run
exactly once.

Replicas are real processes: ``python -m tests.k8s.test_server_kubernetes --replica-id NAME`` is
``python -m wishstar.webhook.worker`` with one change, the executor places Pods on KWOK nodes with the stage
annotations of ``WISHSTAR_TEST_KWOK_ANNOTATIONS`` (JSON) and no log streams (KWOK serves no logs); with
``WISHSTAR_TEST_KWOK_KEEP=1`` the run's Pods stay after it ends, for the assertions.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from tests.k8s.cluster import KWOK_NODE_SELECTOR, ROOT, Cluster
from tests.webhook.test_worker_support import add_event, make_repo, pg_schema_url, push_payload, register
from wishstar.engine.compiler.types import Plan, RunContext
from wishstar.engine.executors.base import Executor, ResolvedTask
from wishstar.engine.executors.kubernetes import TaskObjects, make_kubernetes_executor
from wishstar.engine.executors.kubernetes.objects import run_selector
from wishstar.engine.store import db, shape
from wishstar.engine.store.api import Store
from wishstar.engine.store.models import run_leases
from wishstar.engine.store.server import Events
from wishstar.pipelines.settings import Settings
from wishstar.steps import entrypoint
from wishstar.tasks import Library
from wishstar.webhook.worker import Worker

ANNOTATIONS_ENV = "WISHSTAR_TEST_KWOK_ANNOTATIONS"
KEEP_ENV = "WISHSTAR_TEST_KWOK_KEEP"
PIPELINE = """name: app
tasks:
  a:
    script: "true"
  b:
    needs: [a]
    script: "true"
"""


def kwok_executor_for(annotations: Mapping[str, str], *, keep: bool = False, **options: Any
                      ) -> Any:
    """An ``ExecutorFor`` (``webhook.worker_drive``): the settings' kubernetes executor, Pods on KWOK nodes."""

    def build(plan: Plan, ctx: RunContext, cfg: Settings) -> Executor:
        executor = make_kubernetes_executor(plan, ctx, entrypoint=entrypoint(), namespace=cfg.namespace,
                                            kubeconfig=cfg.kubeconfig,
                                            default_image=cfg.default_image, keep=keep, stream_logs=False,
                                            delete_grace_s=0, **options)
        inner = executor.manifests

        def on_kwok(task: ResolvedTask) -> TaskObjects:
            objects = inner(task)
            objects.pod["spec"]["nodeSelector"] = dict(KWOK_NODE_SELECTOR)
            objects.pod["metadata"]["annotations"].update(annotations)
            return objects

        executor.manifests = on_kwok
        return executor

    return build


def kwok_settings(tmp: Path, url: str | None, cluster: Cluster, namespace: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {"state_dir": tmp / "state", "database_url": url, "workers": 2, "lease_seconds": 5.0,
                              "executor": "kubernetes", "namespace": namespace,
                              "kubeconfig": str(cluster.kubeconfig)}
    return Settings(**{**values, **extra})


def run_pods(cluster: Cluster, namespace: str, run_id: str) -> list[Any]:
    return list(cluster.core.list_namespaced_pod(namespace, label_selector=run_selector(run_id)).items)


def push_and_drive(cluster: Cluster, namespace: str, tmp_path: Path, pipeline: str) -> dict[str, Any]:
    """Push ``pipeline`` to a project, let one worker drive the event's run on KWOK; the stored run."""
    repo = make_repo(tmp_path / "repo", {".wishstar.yaml": pipeline})
    cfg = kwok_settings(tmp_path, None, cluster, namespace)
    with Store.open(cfg.database_url, cfg.state_dir) as store:
        project = register(store, str(tmp_path / "repo"))
        event_id, _ = add_event(store, project, push_payload(repo.head.commit.hexsha))
        worker = Worker(store, cfg, Library(), owner="r1")
        worker.driver.executor_for = kwok_executor_for({"kwok.wishstar.dev/delay": "0s"}, keep=True)
        asyncio.run(worker.until_idle(timeout=90))
        event = Events(store).get(event_id)
        assert event.status == "done" and event.run_id
        return shape.run_dict(store.get_run(event.run_id))


def test_an_event_becomes_a_run_whose_pods_run_on_kwok(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    run = push_and_drive(cluster, namespace, tmp_path, PIPELINE)
    assert run["status"] == "succeeded", run
    assert sorted((t["name"], t["status"], t["attempts"]) for t in run["tasks"]) == [
        ("a", "succeeded", 1), ("b", "succeeded", 1)]
    pods = run_pods(cluster, namespace, run["id"])
    assert sorted(p.metadata.labels["wishstar.dev/task"] for p in pods) == ["a", "b"]
    assert all(p.status.phase == "Succeeded" and p.spec.node_name.startswith("kwok-node-") for p in pods)


CHAIN = """name: app
placement: one-pod
tasks:
  a:
    script: "true"
  b:
    needs: [a]
    script: "true"
  c:
    needs: [b]
    script: "true"
"""


def test_a_chain_on_the_server_runs_as_one_pod(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    """``placement: one-pod`` applies on the server as in ``wishstar run --executor kubernetes``."""
    run = push_and_drive(cluster, namespace, tmp_path, CHAIN)
    assert run["status"] == "succeeded", run
    assert [(t["name"], t["status"], t["attempts"]) for t in run["tasks"]] == [
        ("a+b+c", "succeeded", 1), ("a", "succeeded", 1), ("b", "succeeded", 1), ("c", "succeeded", 1)]
    [pod] = run_pods(cluster, namespace, run["id"])
    assert pod.metadata.annotations["wishstar.dev/task"] == "a+b+c" and pod.status.phase == "Succeeded"
    assert [c.name.rsplit("-", 1)[0] for c in pod.spec.containers] == ["step-a-run", "step-b-run", "step-c-run"]


def start_replica(name: str, url: str, tmp: Path, cluster: Cluster, namespace: str,
                  annotations: Mapping[str, str], *, keep: bool = True, lease_s: float = 2.0,
                  workers: int = 2) -> subprocess.Popen[bytes]:
    """A KWOK replica process (see the module docstring), logging to ``tmp/NAME.log``."""
    env = {**os.environ, "WISHSTAR_DATABASE_URL": url, "WISHSTAR_STATE_DIR": str(tmp / name),
           "WISHSTAR_LEASE_SECONDS": str(lease_s), "WISHSTAR_WORKERS": str(workers),
           "WISHSTAR_EXECUTOR": "kubernetes", "WISHSTAR_NAMESPACE": namespace,
           "WISHSTAR_KUBECONFIG": str(cluster.kubeconfig), ANNOTATIONS_ENV: json.dumps(dict(annotations)),
           KEEP_ENV: "1" if keep else "0", "PYTHONPATH": str(ROOT)}
    log = (tmp / f"{name}.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "tests.k8s.test_server_kubernetes", "--replica-id", name],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop_all(replicas: list[subprocess.Popen[bytes]]) -> None:
    for proc in replicas:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in replicas:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_for(probe: Any, timeout: float, what: str, logs: Path) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            tails = {p.name: p.read_text()[-3000:] for p in sorted(logs.glob("r*.log"))}
            raise AssertionError(f"timed out waiting for {what}; replica logs: {tails}")
        time.sleep(0.1)


@pytest.mark.postgres
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "shut-down"])
@pytest.mark.parametrize("placed", [False, True], ids=["pod-per-task", "one-pod"])
def test_a_stopped_replicas_run_is_taken_over_and_reattaches_to_the_same_pod(
        cluster: Cluster, namespace: str, tmp_path: Path, stop: signal.Signals, placed: bool) -> None:
    """SIGKILL: the replica dies, its lease expires. SIGTERM: it detaches (leaves the Pod running, deletes
    nothing) and expires its lease at once. Either way the next owner re-attaches to the same Pod. With
    ``placement: one-pod`` that Pod is the whole chain's (task ``a+b+c``), and its members' rows follow it."""
    pipeline, first = (CHAIN, "a+b+c") if placed else (PIPELINE, "a")
    expected = ([("a", "succeeded", 1), ("a+b+c", "succeeded", 1), ("b", "succeeded", 1), ("c", "succeeded", 1)]
                if placed else [("a", "succeeded", 1), ("b", "succeeded", 1)])
    url, admin, schema = pg_schema_url()
    replicas: list[subprocess.Popen[bytes]] = []
    annotations = {"kwok.wishstar.dev/delay": "8s"}  # the first Pod runs 8 s: the kill lands while it runs
    try:
        repo = make_repo(tmp_path / "repo", {".wishstar.yaml": pipeline})
        with Store.open(url, tmp_path / "state") as store:
            project = register(store, str(tmp_path / "repo"))
            event_id, _ = add_event(store, project, push_payload(repo.head.commit.hexsha))
            replicas.append(start_replica("r0", url, tmp_path, cluster, namespace, annotations))

            def running_pod_a() -> Any:
                run_id = Events(store).get(event_id).run_id
                pods = run_pods(cluster, namespace, run_id) if run_id else []
                return next((p for p in pods if p.status.phase == "Running"), None)

            pod_a = wait_for(running_pod_a, 90, f"r0 to start task {first}'s Pod", tmp_path)
            replicas.append(start_replica("r1", url, tmp_path, cluster, namespace, annotations))
            os.kill(replicas[0].pid, stop)
            replicas[0].wait(timeout=30)
            run_id = Events(store).get(event_id).run_id
            assert run_id is not None

            def leases() -> tuple[Counter[str], Counter[str]]:
                with db.read(store.engine) as conn:
                    return (Counter(conn.execute(select(run_leases.c.state)).scalars()),
                            Counter(conn.execute(select(run_leases.c.owner)).scalars()))

            wait_for(lambda: leases()[0] == {"done": 1}, 90, "r1 to finish the run and release it", tmp_path)
            run = shape.run_dict(store.get_run(run_id))
            lease_states, owners = leases()
        assert run["status"] == "succeeded", run
        assert lease_states == {"done": 1} and owners == {"r1": 1}
        assert sorted((t["name"], t["status"], t["attempts"]) for t in run["tasks"]) == expected
        pods = run_pods(cluster, namespace, run_id)
        by_task = Counter(p.metadata.annotations["wishstar.dev/task"] for p in pods)
        assert by_task == ({"a+b+c": 1} if placed else {"a": 1, "b": 1})  # no task ever had a second Pod
        [after] = [p for p in pods if p.metadata.annotations["wishstar.dev/task"] == first]
        assert after.metadata.uid == pod_a.metadata.uid and after.metadata.name == pod_a.metadata.name
        assert after.status.phase == "Succeeded"
        assert "taking over from r0" in (tmp_path / "r1.log").read_text()
        assert "Traceback" not in (tmp_path / "r0.log").read_text()
    finally:
        stop_all(replicas)
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def replica_main(argv: list[str] | None = None) -> int:
    """A ``python -m wishstar.webhook.worker`` replica whose Pods go to KWOK nodes (see the module docstring)."""
    from wishstar.webhook.worker import main

    def on_kwok(worker: Worker) -> None:
        worker.driver.executor_for = kwok_executor_for(json.loads(os.environ.get(ANNOTATIONS_ENV) or "{}"),
                                                       keep=os.environ.get(KEEP_ENV) == "1")

    return main(argv, prog="python -m tests.k8s.test_server_kubernetes", prepare=on_kwok)


if __name__ == "__main__":
    raise SystemExit(replica_main())
