"""The Kubernetes executor on the real node: real containers, real exit codes, logs streamed into the store.

The same runner and store as ``wishstar run``; Pods are pinned to this session's real node (kubelet,
containerd, runc) through a ``ManifestSource`` that adds the node selector, and use the images built here
(``scripts/images.sh``). Results travel from one task's termination message into the next task's script.
"""

from __future__ import annotations

import secrets
import textwrap
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from tests.k8s.cluster import Cluster
from tests.k8s.node import REAL_NODE_LABEL, RealNode
from tests.k8s.test_executor import Run
from wishstar.engine.compiler.types import Plan, ResolvedTask, RunContext
from wishstar.engine.executors.kubernetes import AttemptOptions, KubernetesConfig, KubernetesExecutor, PlanManifests
from wishstar.engine.executors.kubernetes.objects import TaskObjects
from wishstar.engine.store.logs import LogStore
from wishstar.steps import entrypoint

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(600)]



def on_node(plan: Plan, ctx: RunContext, node: RealNode) -> Any:
    inner = PlanManifests(plan, ctx, entrypoint())

    def build(task: ResolvedTask) -> TaskObjects:
        objects = inner(task)
        spec = objects.pod["spec"]
        spec["nodeSelector"] = {REAL_NODE_LABEL[0]: REAL_NODE_LABEL[1], "kubernetes.io/hostname": node.name}
        spec["dnsPolicy"] = "Default"
        spec["terminationGracePeriodSeconds"] = 1
        return objects

    return build


def real_run(tmp_path: Path, cluster: Cluster, namespace: str, node: RealNode, text: str) -> Run:
    run = Run(tmp_path, cluster, namespace, textwrap.dedent(text).replace("DEBIAN", node.images["debian"]))
    ctx = RunContext(**{**run.ctx.__dict__, "default_image": node.images["busybox"]})
    config = KubernetesConfig(namespace=namespace, kubeconfig=str(cluster.kubeconfig),
                              attempt=AttemptOptions(delete_grace_s=1, image_pull_grace_s=60))
    run.executor = KubernetesExecutor(on_node(run.plan, ctx, node), config)
    run.runner.executor = run.executor
    return run


def step_log(tmp_path: Path, run: Run, task: str) -> str:
    step = run.plan.tasks[task].steps[0].name
    return LogStore(tmp_path).step_path(run.run_id, task, 1, step).read_text()


def test_real_steps_pass_a_result_and_their_output_reaches_the_store(tmp_path: Path, cluster: Cluster,
                                                                      namespace: str, node: RealNode) -> None:
    run = real_run(tmp_path, cluster, namespace, node, """
        name: real
        tasks:
          version:
            results: [tag]
            script: |
              echo "making a version"
              printf 1.0.42 > $(results.tag.path)
          build:
            image: DEBIAN
            script: |
              echo "building $(tasks.version.results.tag) with $(python3 --version)"
    """)
    data = run.go()
    assert data["status"] == "succeeded", data
    assert run.tasks()["version"]["results"] == {"tag": "1.0.42"}
    # the engine's own lines ("wishstar: waiting: ..." while the node is still tainted not-ready) may precede
    # the step's output; the step's own output must come through exactly
    assert _own(step_log(tmp_path, run, "version")) == "making a version\n"
    assert _own(step_log(tmp_path, run, "build")).startswith("building 1.0.42 with Python 3.")


def _own(log: str) -> str:
    return "".join(line for line in log.splitlines(keepends=True) if not line.startswith("wishstar: "))


def test_a_real_failing_step_gives_its_exit_code_and_log(tmp_path: Path, cluster: Cluster, namespace: str,
                                                         node: RealNode) -> None:
    run = real_run(tmp_path, cluster, namespace, node, """
        name: real
        tasks:
          broken:
            script: |
              echo "about to fail"
              exit 5
    """)
    data = run.go()
    assert data["status"] == "failed"
    task = run.tasks()["broken"]
    assert task["exit_code"] == 5 and "exited with 5" in task["reason"], task
    assert step_log(tmp_path, run, "broken") == "about to fail\n"


def test_a_namespace_secret_reaches_the_real_step_and_is_masked_in_its_stored_log(
        tmp_path: Path, cluster: Cluster, namespace: str, node: RealNode) -> None:
    value = "pw-" + secrets.token_hex(6)
    cluster.core.create_namespaced_secret(namespace, k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name="harbor"), string_data={"password": value}))
    run = real_run(tmp_path, cluster, namespace, node, """
        name: real
        tasks:
          login:
            env: {PASSWORD: {secret: harbor, secretKey: password}}
            script: |
              echo "password is $PASSWORD"
              echo "length ${#PASSWORD}"
    """)
    data = run.go()
    assert data["status"] == "succeeded", data
    # the kubelet put the real value into the container (its length shows it), the store only has ***
    assert _own(step_log(tmp_path, run, "login")) == f"password is ***\nlength {len(value)}\n"
