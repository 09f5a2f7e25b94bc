"""The real node: a kubelet with Debian's containerd, runc and CNI plugins runs real containers.

Pods here are pinned to it with ``nodeSelector: wishstar.dev/node-kind=real`` and use images built here
(scripts/images.sh) from the local registry. What comes back must be what the container really did: its exit
code, its termination message, and its output through the API server's log endpoint (the path `kubectl logs`
and the executor take: API server -> kubelet -> containerd's log file).

The node starts once per session (scripts/node.sh up, about 10 s with the images cached) against the
``cluster`` fixture of tests/k8s/conftest.py; each test's Pods live in the fresh ``namespace`` it gives. Anything
missing fails with the exact reason under CI_REQUIRE_KUBERNETES=1 and skips with it otherwise.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import pytest

from tests.k8s.cluster import Cluster
from tests.k8s.node import REAL_NODE_LABEL, RealNode
from wishstar.engine.compiler.pods import task_manifests
from wishstar.engine.compiler.types import RetryPlan, RunContext, StepPlan, TaskPlan
from wishstar.steps import entrypoint

POD_TIMEOUT = 180.0


@pytest.fixture
def core(cluster: Cluster, real_node: RealNode) -> Any:
    return cluster.core


def _pod(name: str, node: RealNode, image: str, script: str) -> dict[str, Any]:
    # The kind label is what a pipeline would select; the hostname pins this session's node when another
    # real node is registered in the same cluster (a developer's, while WISHSTAR_TEST_KUBECONFIG reuses one).
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "wishstar-tests"}},
        "spec": {
            "nodeSelector": {REAL_NODE_LABEL[0]: REAL_NODE_LABEL[1], "kubernetes.io/hostname": node.name},
            "restartPolicy": "Never",
            "dnsPolicy": "Default",
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": image, "command": ["/bin/sh", "-c", script]}],
        },
    }


def _wait_done(core: Any, ns: str, name: str, node: RealNode) -> Any:
    deadline = time.monotonic() + POD_TIMEOUT
    pod = core.read_namespaced_pod(name, ns)
    while pod.status.phase not in ("Succeeded", "Failed"):
        if time.monotonic() > deadline:
            events = core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}")
            why = "; ".join(f"{e.reason}: {e.message}" for e in events.items)
            pytest.fail(
                f"Pod {name} still {pod.status.phase} after {POD_TIMEOUT:.0f} s\nevents: {why}\n"
                f"status: {pod.status}\nkubelet log:\n{node.log()}"
            )
        time.sleep(0.5)
        pod = core.read_namespaced_pod(name, ns)
    return pod


def _run_pod(core: Any, ns: str, node: RealNode, image: str, script: str) -> tuple[Any, str]:
    """Create the Pod, wait until it ends, return it and its log; the Pod is deleted afterwards."""
    name = f"real-node-{secrets.token_hex(4)}"
    core.create_namespaced_pod(ns, _pod(name, node, image, script))
    try:
        pod = _wait_done(core, ns, name, node)
        log = core.read_namespaced_pod_log(name, ns, container="main")
        return pod, log
    finally:
        core.delete_namespaced_pod(name, ns, grace_period_seconds=0)


def test_node_registered_ready_untainted(core: Any, real_node: RealNode) -> None:
    node = core.read_node(real_node.name)
    assert node.metadata.labels[REAL_NODE_LABEL[0]] == REAL_NODE_LABEL[1]
    ready = {c.type: c.status for c in node.status.conditions}
    assert ready["Ready"] == "True"
    assert not node.spec.taints, node.spec.taints
    assert node.status.node_info.container_runtime_version.startswith("containerd://")


def test_busybox_pod_exit_code_termination_message_and_log(core: Any, namespace: str, real_node: RealNode) -> None:
    script = (
        "echo 'hello from the real node'; "
        "printf 'bye: exit 3' > /dev/termination-log; "
        "exit 3"
    )
    pod, log = _run_pod(core, namespace, real_node, real_node.images["busybox"], script)
    assert pod.spec.node_name == real_node.name
    assert pod.status.phase == "Failed"
    terminated = pod.status.container_statuses[0].state.terminated
    assert terminated is not None, pod.status
    assert terminated.exit_code == 3
    assert terminated.message == "bye: exit 3"
    assert log == "hello from the real node\n"


def test_debian_image_has_git_and_python(core: Any, namespace: str, real_node: RealNode) -> None:
    pod, log = _run_pod(core, namespace, real_node, real_node.images["debian"], "git --version && python3 --version")
    assert pod.status.phase == "Succeeded", (pod.status, log)
    assert pod.status.container_statuses[0].state.terminated.exit_code == 0
    assert "git version 2." in log
    assert "Python 3." in log


# The compiler's own manifests (engine/compiler/pods.py) on the real node: the ConfigMap-mounted entrypoint and
# scripts, steps in order across two images, results in the last step's termination message, a failing step
# stopping the ones after it.


def _step(name: str, script: str, image: str | None = None) -> StepPlan:
    return StepPlan(name=name, image=image, script=script, command=None, args=(), env=(), working_dir=None,
                    timeout_s=None)


def _task(name: str, steps: tuple[StepPlan, ...], image: str, results: tuple[str, ...] = ()) -> TaskPlan:
    return TaskPlan(name=name, base=name, is_finally=False, uses=None, image=image, steps=steps, needs=(),
                    result_refs=(), when=None, results=results, workspaces=(), working_dir=None, timeout_s=120,
                    retries=RetryPlan(), allow_failure=False)


def _run_compiled(core: Any, ns: str, node: RealNode, task: TaskPlan) -> tuple[Any, dict[str, Any]]:
    """Create the task's ConfigMap and Pod (pinned to this node), wait; the Pod and its per-step states."""
    ctx = RunContext(run_id=f"r-{secrets.token_hex(3)}", number=42, namespace=ns, default_image=node.images["busybox"])
    config_map, pod = task_manifests(task, (), ctx, pipeline="realnode", entrypoint=entrypoint())
    pod["spec"]["nodeSelector"] = {REAL_NODE_LABEL[0]: REAL_NODE_LABEL[1], "kubernetes.io/hostname": node.name}
    core.create_namespaced_config_map(ns, config_map)
    core.create_namespaced_pod(ns, pod)
    done = _wait_done(core, ns, pod["metadata"]["name"], node)
    states = {c.name: c.state.terminated for c in done.status.container_statuses}
    return done, states


def test_compiled_task_runs_steps_in_order_and_returns_results(core: Any, namespace: str, real_node: RealNode) -> None:
    task = _task(
        "version",
        (
            _step("gen", "echo generating\nprintf '1.0.%s' \"$WISHSTAR_BUILD_NUMBER\" > $(results.tag.path)\n"),
            _step(
                "check",
                "#!/usr/bin/env python3\nprint('python sees', open('$(results.tag.path)').read())\n",
                image=real_node.images["debian"],
            ),
        ),
        real_node.images["busybox"],
        results=("tag",),
    )
    pod, states = _run_compiled(core, namespace, real_node, task)
    assert pod.status.phase == "Succeeded", states
    assert states["step-gen"].exit_code == 0
    assert json.loads(states["step-check"].message) == {"exitCode": 0, "results": {"tag": "1.0.42"}}
    name = pod.metadata.name
    assert core.read_namespaced_pod_log(name, namespace, container="step-gen") == "generating\n"
    assert core.read_namespaced_pod_log(name, namespace, container="step-check") == "python sees 1.0.42\n"


def test_compiled_task_failing_step_stops_the_rest(core: Any, namespace: str, real_node: RealNode) -> None:
    task = _task(
        "fails",
        (_step("a", "echo a\n"), _step("b", "echo b fails\nexit 5\n"), _step("c", "echo never\n")),
        real_node.images["busybox"],
    )
    pod, states = _run_compiled(core, namespace, real_node, task)
    assert pod.status.phase == "Failed"
    assert (states["step-a"].exit_code, json.loads(states["step-a"].message)) == (0, {"exitCode": 0})
    assert (states["step-b"].exit_code, json.loads(states["step-b"].message)) == (5, {"exitCode": 5})
    assert (states["step-c"].exit_code, json.loads(states["step-c"].message)) == (0, {"skipped": True})
    log_c = core.read_namespaced_pod_log(pod.metadata.name, namespace, container="step-c")
    assert "never" not in log_c
