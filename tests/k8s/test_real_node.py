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

import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.k8s.cluster import Cluster
from tests.k8s.node import REAL_NODE_LABEL, RealNode, cluster_ref

POD_TIMEOUT = 180.0


@pytest.fixture(scope="session")
def real_node(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealNode]:
    node = RealNode.start(cluster_ref(cluster), tmp_path_factory.mktemp("real-node"))
    try:
        yield node
    finally:
        node.stop()


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


def _run_pod(core: Any, ns: str, node: RealNode, image: str, script: str) -> tuple[Any, str]:
    """Create the Pod, wait until it ends, return it and its log; the Pod is deleted afterwards."""
    name = f"real-node-{secrets.token_hex(4)}"
    core.create_namespaced_pod(ns, _pod(name, node, image, script))
    try:
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
