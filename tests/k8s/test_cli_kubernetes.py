"""``wishstar run --executor kubernetes`` end to end: the real CLI process, a real git repository, the real
control plane, Pods placed by the pipeline's own ``kubernetes:`` settings (no test-only ManifestSource).

On KWOK nodes the pipeline's ``kubernetes.annotations`` carry the KWOK stage annotations of ``scripts/kwok/``
(succeed, or fail with an exit code); on the real node, real containers pass a result between tasks and their
stdout is read back with ``wishstar logs`` after the run's Pods are gone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git
import pytest

from tests.cli.conftest import Result
from tests.k8s.cluster import ROOT, Cluster, wait_until
from tests.k8s.conftest import NodeKind
from tests.k8s.node import REAL_NODE_LABEL, RealNode

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(900)]


@dataclass
class Wishstar:
    """The ``wishstar`` CLI as a subprocess, with its own state directory, pointed at the test cluster."""

    env: dict[str, str]
    kubeconfig: Path
    namespace: str

    def __call__(self, *args: str, timeout: float = 300) -> Result:
        proc = subprocess.run([sys.executable, "-m", "wishstar.cli", *args], capture_output=True, text=True,
                              timeout=timeout, env=self.env, cwd=ROOT)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def run(self, repo: Path) -> Result:
        return self("run", str(repo), "--executor", "kubernetes", "--kubeconfig", str(self.kubeconfig),
                    "--namespace", self.namespace, "--output", "json", "--no-progress")


def make_repo(path: Path, pipeline: str) -> Path:
    """A committed git repository holding only the pipeline file (as tests/cli/conftest.py's make_repo)."""
    path.mkdir()
    repo = git.Repo.init(path, initial_branch="main")
    (path / ".wishstar.yaml").write_text(textwrap.dedent(pipeline))
    repo.index.add([".wishstar.yaml"])
    author = git.Actor("Test Author", "author@example.com")
    repo.index.commit("initial commit", author=author, committer=author)
    return path


@pytest.fixture
def wishstar(tmp_path: Path, cluster: Cluster, namespace: str) -> Wishstar:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WISHSTAR_")}
    env.update(WISHSTAR_STATE_DIR=str(tmp_path / "state"), COLUMNS="200")
    return Wishstar(env, cluster.kubeconfig, namespace)


def run_pods(cluster: Cluster, namespace: str, run_id: str) -> list[Any]:
    return list(cluster.core.list_namespaced_pod(namespace, label_selector=f"wishstar.dev/run={run_id}").items)


# --- KWOK nodes -------------------------------------------------------------------------------------------------

KWOK_PIPELINE = """
name: kw
kubernetes:
  nodeSelector: {wishstar.dev/node-kind: kwok}
  annotations: {wishstar.dev/kwok: succeed, kwok.wishstar.dev/delay: 0s}
  labels: {team: payments}
tasks:
  build:
    script: make
  test:
    needs: [build]
    script: make test
"""


def test_a_pipeline_placed_on_kwok_by_its_node_selector_succeeds_and_runs_show_reads_it(
        tmp_path: Path, wishstar: Wishstar) -> None:
    result = wishstar.run(make_repo(tmp_path / "repo", KWOK_PIPELINE))
    assert result.code == 0, result.stderr
    run = result.json()
    assert run["status"] == "succeeded", run
    shown = wishstar("runs", "show", run["id"], "--output", "json")
    assert shown.code == 0, shown.stderr
    tasks = {t["name"]: t for t in shown.json()["tasks"]}
    assert {n: t["status"] for n, t in tasks.items()} == {"build": "succeeded", "test": "succeeded"}
    assert wishstar("runs", "show", run["id"]).code == 0


def test_deleting_an_ended_run_deletes_what_it_left_in_the_cluster(tmp_path: Path, wishstar: Wishstar,
                                                                   cluster: Cluster, namespace: str) -> None:
    from kubernetes import client as k8s

    result = wishstar.run(make_repo(tmp_path / "repo", KWOK_PIPELINE))
    assert result.code == 0, result.stderr
    run_id = result.json()["id"]
    # what a run kept for debugging, or one whose teardown could not reach the cluster, leaves behind
    owner = cluster.core.create_namespaced_config_map(namespace, k8s.V1ConfigMap(
        metadata=k8s.V1ObjectMeta(name=f"wishstar-run-{run_id}", labels={"wishstar.dev/run": run_id})))
    reference = k8s.V1OwnerReference(api_version="v1", kind="ConfigMap", name=owner.metadata.name,
                                     uid=owner.metadata.uid)
    cluster.core.create_namespaced_config_map(namespace, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(
        name=f"left-{run_id}", labels={"wishstar.dev/run": run_id}, owner_references=[reference])))
    deleted = wishstar("runs", "delete", run_id)
    assert deleted.code == 0 and "1 with objects in a cluster" in deleted.stdout, deleted.stderr
    selector = f"wishstar.dev/run={run_id}"
    wait_until(lambda: not cluster.core.list_namespaced_config_map(namespace, label_selector=selector).items, 60,
               "the garbage collector to remove what the deleted run's owner object owned")
    assert wishstar("runs", "list", "--output", "json").json() == []


def test_a_task_annotated_to_fail_on_kwok_fails_the_run_with_its_exit_code(tmp_path: Path,
                                                                         wishstar: Wishstar) -> None:
    pipeline = KWOK_PIPELINE + """\
    kubernetes:
      annotations: {wishstar.dev/kwok: fail, kwok.wishstar.dev/exit-code: 3}
"""
    result = wishstar.run(make_repo(tmp_path / "repo", pipeline))
    assert result.code == 1, result.stderr
    run = result.json()
    assert run["status"] == "failed", run
    tasks = {t["name"]: t for t in wishstar("runs", "show", run["id"], "--output", "json").json()["tasks"]}
    assert tasks["build"]["status"] == "succeeded"
    assert tasks["test"]["status"] == "failed" and tasks["test"]["exit_code"] == 3, tasks["test"]


# --- either node kind: the same pipeline, placed by its own nodeSelector ----------------------------------------


@pytest.mark.nodes("kwok", "real")
def test_the_same_pipeline_passes_a_result_and_fails_with_its_exit_code_on_either_node_kind(
        tmp_path: Path, wishstar: Wishstar, node_kind: NodeKind) -> None:
    # KWOK ignores the scripts and follows the annotations; the real node runs the scripts and ignores them
    pipeline = f"""
    name: either
    kubernetes:
      nodeSelector: {json.dumps(node_kind.selector)}
      annotations: {{wishstar.dev/kwok: succeed, kwok.wishstar.dev/delay: 0s}}
    tasks:
      version:
        image: {node_kind.image}
        results: [tag]
        script: printf 2.0.1 > $(results.tag.path)
        kubernetes:
          annotations: {{kwok.wishstar.dev/message: '{{"exitCode":0,"results":{{"tag":"2.0.1"}}}}'}}
      test:
        needs: [version]
        image: {node_kind.image}
        script: |
          echo "testing $(tasks.version.results.tag)"
          exit 3
        kubernetes:
          annotations: {{wishstar.dev/kwok: fail, kwok.wishstar.dev/exit-code: "3"}}
    """
    result = wishstar.run(make_repo(tmp_path / "repo", pipeline))
    assert result.code == 1, result.stderr
    tasks = {t["name"]: t for t in result.json()["tasks"]}
    assert tasks["version"]["results"] == {"tag": "2.0.1"}, tasks
    assert (tasks["test"]["status"], tasks["test"]["exit_code"]) == ("failed", 3), tasks["test"]
    if node_kind.kind == "real":
        assert wishstar("logs", result.json()["id"], "test").stdout == "testing 2.0.1\n"


# --- the real node ----------------------------------------------------------------------------------------------



def test_real_containers_pass_a_result_and_logs_shows_their_stdout_after_the_pods_are_gone(
        tmp_path: Path, wishstar: Wishstar, cluster: Cluster, namespace: str, node: RealNode) -> None:
    pipeline = f"""
    name: real
    kubernetes:
      nodeSelector: {{{REAL_NODE_LABEL[0]}: {REAL_NODE_LABEL[1]}, kubernetes.io/hostname: {node.name}}}
    tasks:
      version:
        image: {node.images["busybox"]}
        results: [tag]
        script: |
          echo "making a version"
          printf 1.0.42 > $(results.tag.path)
      show:
        image: {node.images["busybox"]}
        kubernetes:
          securityContext: {{runAsUser: 1000, runAsGroup: 1000}}
        script: |
          echo "the version is $(tasks.version.results.tag), uid $(id -u)"
    """
    result = wishstar.run(make_repo(tmp_path / "repo", pipeline))
    assert result.code == 0, f"{result.stderr}\n--- kubelet ---\n{node.log()}"
    run = result.json()
    tasks = {t["name"]: t for t in run["tasks"]}
    assert tasks["version"]["results"] == {"tag": "1.0.42"}, tasks
    wait_until(lambda: not run_pods(cluster, namespace, run["id"]), 60, f"the Pods of run {run['id']} to go")
    # the engine's own "wishstar: waiting: ..." lines (a slow kubelet: FailedMount while its ConfigMap cache
    # syncs) may precede a step's output; the step's output is exactly its own
    def step_output(task: str) -> list[str]:
        logs = wishstar("logs", run["id"], task)
        assert logs.code == 0, logs.stderr
        return [line for line in logs.stdout.splitlines(keepends=True) if not line.startswith("wishstar: waiting: ")]

    assert step_output("show") == ["the version is 1.0.42, uid 1000\n"]
    assert step_output("version") == ["making a version\n"]
