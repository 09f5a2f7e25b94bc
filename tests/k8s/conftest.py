"""Fixtures for tests against the real Kubernetes test cluster (docs/kubernetes.md, "The test cluster").

``cluster`` (session): starts ``scripts/cluster.sh up`` in a temporary directory (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok with two KWOK nodes) and stops it at the end, or reuses a running
cluster when WISHSTAR_TEST_KUBECONFIG names its admin kubeconfig. When the binaries are not built
(``scripts/cluster.sh build``) the tests skip with the reason, unless CI_REQUIRE_KUBERNETES=1 (set by .ci/run and
scripts/test.sh), when they fail. A cluster whose binaries exist but that does not start always fails.

``namespace`` (function): a fresh namespace per test, deleted afterwards.

``real_node`` (session; ``node`` is the same for a test): one real node (kubelet, containerd, runc, CNI, the
images built here) registered with the cluster, started on first use (tests/k8s/node.py).

Marker ``kubernetes``: registered here for tests that need the cluster. Marker ``nodes("kwok", "real")``: the
test runs once per node kind named (both by default), and its ``node_kind`` fixture says where its Pods go: the
``nodeSelector`` that picks that kind of node, and an image to use (pulled on the real node, never on KWOK).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.k8s.cluster import KWOK_NODE_SELECTOR, Cluster, ClusterError, missing_binaries
from tests.k8s.node import REAL_NODE_LABEL, RealNode, cluster_ref


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kubernetes: needs the real Kubernetes test cluster (scripts/cluster.sh)")
    config.addinivalue_line("markers", 'nodes(*kinds): run the test on each node kind ("kwok", "real"); its '
                                       "node_kind fixture gives the nodeSelector and an image")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("nodes")
    if marker is not None and "node_kind" in metafunc.fixturenames:
        kinds = marker.args or ("kwok", "real")
        metafunc.parametrize("node_kind", kinds, indirect=True, ids=list(kinds))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kubernetes)


def _unavailable(message: str) -> None:
    if os.environ.get("CI_REQUIRE_KUBERNETES") == "1":
        pytest.fail(f"CI_REQUIRE_KUBERNETES=1 but {message}", pytrace=False)
    pytest.skip(reason=message)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    existing = os.environ.get("WISHSTAR_TEST_KUBECONFIG")
    if existing:
        yield Cluster(kubeconfig=Path(existing))
        return
    missing = missing_binaries()
    if missing:
        _unavailable("the Kubernetes test-cluster binaries are not built: "
                     + ", ".join(str(p) for p in missing) + " (run: scripts/cluster.sh build, ~30 min cold)")
    directory = tmp_path_factory.mktemp("k8s-cluster")
    try:
        started = Cluster.start(directory)
    except ClusterError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = cluster.create_namespace()
    try:
        yield name
    finally:
        cluster.delete_namespace(name)


@pytest.fixture(scope="session")
def real_node(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealNode]:
    started = RealNode.start(cluster_ref(cluster), tmp_path_factory.mktemp("real-node"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def node(real_node: RealNode) -> RealNode:
    return real_node


@dataclass(frozen=True)
class NodeKind:
    """Where a ``nodes``-marked test's Pods go."""

    kind: str
    selector: dict[str, str] = field(default_factory=dict)
    image: str = "busybox"
    """An image for steps: built here and pulled from the local registry on the real node; KWOK pulls none."""
    node: RealNode | None = None


@pytest.fixture
def node_kind(request: pytest.FixtureRequest, cluster: Cluster) -> NodeKind:
    if request.param == "kwok":
        return NodeKind("kwok", dict(KWOK_NODE_SELECTOR))
    if request.param != "real":
        raise ValueError(f'nodes(...) takes "kwok" and "real", not {request.param!r}')
    real: RealNode = request.getfixturevalue("real_node")
    return NodeKind("real", {REAL_NODE_LABEL[0]: REAL_NODE_LABEL[1], "kubernetes.io/hostname": real.name},
                    real.images["busybox"], real)
