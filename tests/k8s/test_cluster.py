"""The test cluster is real: API validation, KWOK Pod stages, garbage collection and RBAC behave as in production.

Each test proves one component works (kube-apiserver, kwok stages, kube-controller-manager's garbage collector,
RBAC with a TokenRequest token), so a later executor test failure is not blamed on the cluster.
"""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.k8s.cluster import KWOK_NODE_SELECTOR, Cluster, kwok_pod, wait_until

pytestmark = pytest.mark.kubernetes


def _terminated(pod: client.V1Pod) -> dict[str, client.V1ContainerStateTerminated]:
    return {s.name: s.state.terminated for s in pod.status.container_statuses or []}


def test_two_kwok_nodes_are_ready(cluster: Cluster) -> None:
    nodes = cluster.core.list_node(label_selector="wishstar.dev/node-kind=kwok").items
    assert len(nodes) == 2
    for node in nodes:
        ready = [c for c in node.status.conditions if c.type == "Ready"]
        assert ready and ready[0].status == "True", node.metadata.name
    version = client.VersionApi(cluster.api_client).get_code()
    assert version.git_version.startswith("v1.34."), version.git_version


def test_api_server_rejects_an_invalid_pod(cluster: Cluster, namespace: str) -> None:
    bad = kwok_pod("Invalid_Name")  # upper case and '_' are not a DNS-1123 subdomain
    bad["spec"]["containers"][0]["name"] = "has space"
    bad["spec"]["restartPolicy"] = "Sometimes"
    with pytest.raises(ApiException) as info:
        cluster.core.create_namespaced_pod(namespace, bad)
    assert info.value.status == 422
    body = json.loads(info.value.body)
    assert body["reason"] == "Invalid"
    fields = {cause["field"] for cause in body["details"]["causes"]}
    assert {"metadata.name", "spec.containers[0].name", "spec.restartPolicy"} <= fields, fields
    # ... and the same through server-side dry run of a valid one is accepted without creating anything
    good = kwok_pod("valid-pod")
    cluster.core.create_namespaced_pod(namespace, good, dry_run="All")
    assert cluster.core.list_namespaced_pod(namespace).items == []


def test_pod_on_a_kwok_node_succeeds(cluster: Cluster, namespace: str) -> None:
    result = '{"exitCode":0,"results":{"digest":"sha256:abc"}}'
    cluster.core.create_namespaced_pod(
        namespace, kwok_pod("ok", delay="1s", message=result, containers=("step-1", "step-2")))
    pod = cluster.wait_for_pod(namespace, "ok")
    assert pod.status.phase == "Succeeded"
    assert pod.spec.node_name.startswith("kwok-node-")  # placed by the real scheduler
    node = cluster.core.read_node(pod.spec.node_name)
    assert node.metadata.labels.items() >= KWOK_NODE_SELECTOR.items()
    states = _terminated(pod)
    assert [states[c].exit_code for c in ("step-1", "step-2")] == [0, 0]
    assert states["step-1"].message is None
    assert states["step-2"].message == result  # the last container carries the termination message
    assert states["step-2"].reason == "Completed"


def test_pod_without_annotations_succeeds_by_default(cluster: Cluster, namespace: str) -> None:
    manifest = kwok_pod("plain", delay=None)
    del manifest["metadata"]["annotations"]
    cluster.core.create_namespaced_pod(namespace, manifest)
    pod = cluster.wait_for_pod(namespace, "plain")
    assert pod.status.phase == "Succeeded"
    assert _terminated(pod)["step-1"].exit_code == 0


def test_pod_annotated_to_fail_fails_with_exit_code_and_message(cluster: Cluster, namespace: str) -> None:
    message = '{"exitCode":3,"error":"tests failed"}'
    cluster.core.create_namespaced_pod(
        namespace, kwok_pod("bad", mode="fail", exit_code=3, message=message, containers=("build", "test")))
    pod = cluster.wait_for_pod(namespace, "bad")
    assert pod.status.phase == "Failed"
    states = _terminated(pod)
    assert states["build"].exit_code == 0 and states["build"].reason == "Completed"
    assert states["test"].exit_code == 3
    assert states["test"].reason == "Error"
    assert states["test"].message == message


def test_fail_can_name_the_failing_container(cluster: Cluster, namespace: str) -> None:
    cluster.core.create_namespaced_pod(namespace, kwok_pod(
        "first-fails", mode="fail", exit_code=124, containers=("a", "b"),
        annotations={"kwok.wishstar.dev/container": "a", "kwok.wishstar.dev/reason": "DeadlineExceeded",
                     "kwok.wishstar.dev/message.b": '{"skipped":true}'}))
    states = _terminated(cluster.wait_for_pod(namespace, "first-fails"))
    assert (states["a"].exit_code, states["a"].reason) == (124, "DeadlineExceeded")
    assert (states["b"].exit_code, states["b"].message) == (0, '{"skipped":true}')


def test_running_pod_is_removed_when_deleted(cluster: Cluster, namespace: str) -> None:
    cluster.core.create_namespaced_pod(namespace, kwok_pod("forever", mode="run"))
    pod = cluster.wait_for_pod(namespace, "forever", phases=("Running",))
    assert pod.status.pod_ip
    cluster.core.delete_namespaced_pod("forever", namespace)  # default 30 s grace period
    cluster.wait_for_pod_gone(namespace, "forever", timeout=15)


def test_deleting_the_owner_garbage_collects_the_pod(cluster: Cluster, namespace: str) -> None:
    owner = cluster.core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="run-owner")))
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "run-owner", "uid": owner.metadata.uid,
           "blockOwnerDeletion": True}
    cluster.core.create_namespaced_pod(namespace, kwok_pod("owned", mode="run", owner=ref))
    cluster.core.create_namespaced_pod(namespace, kwok_pod("unowned", mode="run"))
    cluster.wait_for_pod(namespace, "owned", phases=("Running",))
    cluster.core.delete_namespaced_config_map("run-owner", namespace, propagation_policy="Background")
    cluster.wait_for_pod_gone(namespace, "owned", timeout=30)  # the controller-manager's garbage collector
    assert cluster.core.read_namespaced_pod("unowned", namespace).metadata.deletion_timestamp is None


def test_role_bound_service_account_token_is_limited_to_its_namespace(cluster: Cluster, namespace: str) -> None:
    other = cluster.create_namespace("other")
    try:
        cluster.core.create_namespaced_service_account(
            namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="engine")))
        cluster.rbac.create_namespaced_role(namespace, client.V1Role(
            metadata=client.V1ObjectMeta(name="engine"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"],
                                       verbs=["create", "get", "list", "watch", "delete"])]))
        cluster.rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="engine"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="engine"),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="engine", namespace=namespace)]))
        token = cluster.service_account_token(namespace, "engine")
        with cluster.client_for_token(token) as api_client:
            core = client.CoreV1Api(api_client)

            def create_allowed() -> bool:  # RBAC caches are eventually consistent: retry a 403 briefly
                try:
                    core.create_namespaced_pod(namespace, kwok_pod("by-sa", mode="run"))
                except ApiException as exc:
                    if exc.status == 403:
                        return False
                    raise
                return True

            wait_until(create_allowed, 10, "the Role to allow creating pods")
            assert core.read_namespaced_pod("by-sa", namespace).metadata.name == "by-sa"

            with pytest.raises(ApiException) as info:
                core.create_namespaced_pod(other, kwok_pod("elsewhere", mode="run"))
            assert info.value.status == 403
            assert f'system:serviceaccount:{namespace}:engine' in info.value.body
            with pytest.raises(ApiException) as info:  # a verb the Role does not grant
                core.create_namespaced_config_map(namespace, client.V1ConfigMap(
                    metadata=client.V1ObjectMeta(name="nope")))
            assert info.value.status == 403
    finally:
        cluster.delete_namespace(other)


def test_api_server_restart_keeps_state_and_port(cluster: Cluster, namespace: str) -> None:
    cluster.core.create_namespaced_pod(namespace, kwok_pod("survivor", mode="run"))
    cluster.wait_for_pod(namespace, "survivor", phases=("Running",))
    cluster.restart_apiserver()
    # the same client (same URL and certificates) works again and etcd kept the objects
    pod = wait_until(lambda: _read_or_none(cluster, namespace, "survivor"), 30, "the API server to answer")
    assert pod.status.phase == "Running"
    cluster.core.create_namespaced_pod(namespace, kwok_pod("after-restart", delay="0s"))
    assert cluster.wait_for_pod(namespace, "after-restart").status.phase == "Succeeded"


def _read_or_none(cluster: Cluster, namespace: str, name: str) -> client.V1Pod | None:
    try:
        return cluster.core.read_namespaced_pod(name, namespace)
    except ApiException as exc:
        if exc.status in (401, 403, 429, 500, 503):
            return None
        raise
    except Exception:  # connection refused/reset while it starts
        return None
