"""Restart safety of ``wishstar run --executor kubernetes``: the CLI process is SIGKILLed while a Pod runs, the
run stays active as an orphan (not failed), and ``wishstar runs resume`` re-attaches to that same Pod and
finishes the run; ``wishstar runs cancel`` on an orphan deletes its Pods instead.

Real CLI processes, a real git repository and the real control plane; Pods on KWOK nodes, kept running by the
stage annotations of ``scripts/kwok/`` (a delay before success, or ``run``: until deleted). Every Pod the
namespace ever had is recorded from a watch, so "created once" is checked on what the API server saw.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import watch

from tests.cli.conftest import Result
from tests.k8s.cluster import ROOT, Cluster, wait_until
from tests.k8s.test_cli_kubernetes import Wishstar, make_repo, run_pods
from wishstar.engine.executors.kubernetes.objects import owner_name

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(900)]

PIPELINE = """
name: kw
kubernetes:
  nodeSelector: {wishstar.dev/node-kind: kwok}
  annotations: {wishstar.dev/kwok: succeed, kwok.wishstar.dev/delay: 0s}
tasks:
  build:
    script: make
    kubernetes:
      annotations: {wishstar.dev/kwok: %s, kwok.wishstar.dev/delay: 10s}
  test:
    needs: [build]
    script: make test
"""


class PodsCreated:
    """Every Pod the namespace gets, as (name, uid), and the names of those deleted, from a watch in a thread."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.seen: list[tuple[str, str]] = []
        self.deleted: set[str] = set()
        self.error: BaseException | None = None
        self._stopped = False
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._follow, args=(cluster, namespace), daemon=True)
        self._thread.start()

    def _follow(self, cluster: Cluster, namespace: str) -> None:
        try:
            for event in self._watch.stream(cluster.core.list_namespaced_pod, namespace, timeout_seconds=600):
                pod = event["object"]
                if event["type"] == "ADDED" and (pod.metadata.name, pod.metadata.uid) not in self.seen:
                    self.seen.append((pod.metadata.name, pod.metadata.uid))
                elif event["type"] == "DELETED":
                    self.deleted.add(pod.metadata.name)
        except Exception as exc:  # the namespace going away at the end ends the stream
            if not self._stopped:
                self.error = exc

    def all_deleted(self, names: set[str]) -> list[tuple[str, str]]:
        """What was created, once the watch has seen ``names`` deleted (so no creation can still be unseen)."""
        wait_until(lambda: self.error is not None or names <= self.deleted, 120, f"the watch to see {names} go")
        assert self.error is None, self.error
        return list(self.seen)

    def stop(self) -> None:
        self._stopped = True
        self._watch.stop()


@pytest.fixture
def wishstar(tmp_path: Path, cluster: Cluster, namespace: str) -> Wishstar:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WISHSTAR_")}
    env.update(WISHSTAR_STATE_DIR=str(tmp_path / "state"), COLUMNS="200")
    return Wishstar(env, cluster.kubeconfig, namespace)


@pytest.fixture
def pods(cluster: Cluster, namespace: str) -> Iterator[PodsCreated]:
    recorder = PodsCreated(cluster, namespace)
    yield recorder
    recorder.stop()


def _killed_mid_run(wishstar: Wishstar, cluster: Cluster, repo: Path) -> tuple[str, Any]:
    """Start ``wishstar run``, SIGKILL it once the build Pod runs; returns the run id and that Pod."""
    proc = subprocess.Popen([sys.executable, "-m", "wishstar.cli", "run", str(repo), "--executor", "kubernetes",
                             "--kubeconfig", str(wishstar.kubeconfig), "--namespace", wishstar.namespace,
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=wishstar.env, cwd=ROOT)
    try:
        pod = wait_until(lambda: next((p for p in cluster.core.list_namespaced_pod(wishstar.namespace).items
                                       if p.status.phase == "Running"), None), 120, "the build Pod to run")
    finally:
        proc.send_signal(signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, stderr
    run_id = pod.metadata.labels["wishstar.dev/run"]
    return run_id, pod


def _shown(wishstar: Wishstar, run_id: str) -> dict[str, Any]:
    shown: Result = wishstar("runs", "show", run_id, "--output", "json")
    assert shown.code == 0, shown.stderr
    data: dict[str, Any] = shown.json()
    return data


def _gone(cluster: Cluster, namespace: str, run_id: str) -> None:
    def owner_exists() -> bool:
        names = [c.metadata.name for c in cluster.core.list_namespaced_config_map(namespace).items]
        return owner_name(run_id) in names

    wait_until(lambda: not run_pods(cluster, namespace, run_id) and not owner_exists(), 120,
               f"the Pods and the owner object of run {run_id} to go")


def test_a_killed_run_is_orphaned_and_resume_reattaches_to_its_pod_and_finishes_it(
        tmp_path: Path, wishstar: Wishstar, cluster: Cluster, namespace: str, pods: PodsCreated) -> None:
    run_id, build_pod = _killed_mid_run(wishstar, cluster, make_repo(tmp_path / "repo", PIPELINE % "succeed"))

    orphan = _shown(wishstar, run_id)
    assert (orphan["status"], orphan["orphaned"]) == ("running", True), orphan
    text = wishstar("runs", "show", run_id)
    assert "orphaned" in text.stdout and f"wishstar runs resume {run_id}" in text.stdout, text.stdout

    resumed = wishstar("runs", "resume", run_id, "--no-progress", "--output", "json")
    assert resumed.code == 0, resumed.stderr
    run = resumed.json()
    assert run["status"] == "succeeded", run
    assert {t["name"]: (t["status"], t["attempts"]) for t in run["tasks"]} == {
        "build": ("succeeded", 1), "test": ("succeeded", 1)}
    _gone(cluster, namespace, run_id)
    created = pods.all_deleted({build_pod.metadata.name, "kw-1-test"})
    assert created == [(build_pod.metadata.name, build_pod.metadata.uid), ("kw-1-test", created[1][1])], created
    assert _shown(wishstar, run_id)["orphaned"] is False


def test_cancelling_an_orphaned_run_deletes_its_pods_and_marks_it_cancelled(
        tmp_path: Path, wishstar: Wishstar, cluster: Cluster, namespace: str, pods: PodsCreated) -> None:
    run_id, _ = _killed_mid_run(wishstar, cluster, make_repo(tmp_path / "repo", PIPELINE % "run"))
    assert _shown(wishstar, run_id)["orphaned"] is True

    cancelled = wishstar("runs", "cancel", run_id)
    assert cancelled.code == 0, cancelled.stderr
    assert f"run {run_id} cancelled" in cancelled.stdout
    _gone(cluster, namespace, run_id)
    run = _shown(wishstar, run_id)
    assert (run["status"], run["orphaned"]) == ("cancelled", False), run
    assert {t["name"]: t["status"] for t in run["tasks"]}["build"] == "cancelled"
    refused = wishstar("runs", "resume", run_id)
    assert refused.code == 2 and "already ended (cancelled)" in refused.stderr


def test_prune_expires_an_orphan_nobody_resumed_deleting_its_pods(
        tmp_path: Path, wishstar: Wishstar, cluster: Cluster, namespace: str, pods: PodsCreated) -> None:
    run_id, _ = _killed_mid_run(wishstar, cluster, make_repo(tmp_path / "repo", PIPELINE % "run"))
    assert wishstar("runs", "prune", "--older-than", "1h").stdout.startswith("deleted 0 run(s)")
    assert _shown(wishstar, run_id)["orphaned"] is True  # younger than the cutoff: left alone
    pruned = wishstar("runs", "prune", "--older-than", "0s")
    assert pruned.code == 0 and "1 of them orphans cancelled first" in pruned.stdout, pruned.stderr
    _gone(cluster, namespace, run_id)
    assert wishstar("runs", "list", "--output", "json").json() == []
