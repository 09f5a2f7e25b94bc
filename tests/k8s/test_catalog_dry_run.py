"""Every task of the Tekton catalog sample, compiled as `wishstar plan --output yaml` compiles it, is accepted by
the real API server (server-side dry run: admission and validation run, nothing is stored), so the schema
check of tests/compiler/test_catalog_pods.py is not the only judge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from tests.compiler.catalog_pods import LOADABLE, SKIP_WITHOUT_DATA, catalog_objects, label
from tests.k8s.cluster import Cluster

pytestmark = SKIP_WITHOUT_DATA


@pytest.fixture(scope="module")
def catalog_namespace(cluster: Cluster) -> Iterator[str]:
    name = cluster.create_namespace("catalog")
    try:
        yield name
    finally:
        cluster.delete_namespace(name)


@pytest.mark.parametrize("path", LOADABLE, ids=label)
def test_the_api_server_accepts_the_catalog_tasks_objects_in_a_dry_run(path: Path, cluster: Cluster,
                                                                        catalog_namespace: str) -> None:
    config_map, pod = catalog_objects(path, catalog_namespace)
    try:
        cluster.core.create_namespaced_config_map(catalog_namespace, config_map, dry_run="All")
        created = cluster.core.create_namespaced_pod(catalog_namespace, pod, dry_run="All")
    except ApiException as exc:
        pytest.fail(f"{label(path)}: the API server refused it ({exc.status}): {exc.body}")
    assert [c.name for c in created.spec.containers] == [c["name"] for c in pod["spec"]["containers"]]
    assert cluster.core.list_namespaced_pod(catalog_namespace).items == []  # a dry run stores nothing
