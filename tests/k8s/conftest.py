"""Fixtures for tests against the real Kubernetes test cluster (docs/kubernetes.md, "The test cluster").

``cluster`` (session): starts ``scripts/cluster.sh up`` in a temporary directory (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok with two KWOK nodes) and stops it at the end, or reuses a running
cluster when WISHSTAR_TEST_KUBECONFIG names its admin kubeconfig. When the binaries are not built
(``scripts/cluster.sh build``) the tests skip with the reason, unless CI_REQUIRE_KUBERNETES=1 (set by .ci/run and
scripts/test.sh), when they fail. A cluster whose binaries exist but that does not start always fails.

``namespace`` (function): a fresh namespace per test, deleted afterwards.

Marker ``kubernetes``: registered here for tests that need the cluster.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.k8s.cluster import Cluster, ClusterError, missing_binaries


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kubernetes: needs the real Kubernetes test cluster (scripts/cluster.sh)")


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
