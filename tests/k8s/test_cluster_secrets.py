"""The namespace's own Secrets as step env, on the real control plane (KWOK nodes).

A step's ``{secret: NAME, secretKey: KEY}`` that the run was not given reads the namespace's Secret through
``secretKeyRef``: the value never passes through the engine into a Pod spec or an attempt's Secret, but the
engine reads it once to refuse a run whose Secrets are missing (all named at once, before any Pod) and to mask
the value wherever it stores text. The real node's test of masking in real step logs is in
``test_executor_real_node.py``.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from kubernetes import client as k8s

from tests.k8s.cluster import Cluster
from tests.k8s.test_executor import Run, apply_role
from wishstar.engine.executors.kubernetes.objects import run_selector
from wishstar.engine.store import shape

pytestmark = pytest.mark.kubernetes

PIPELINE = """
    name: kw
    tasks:
      push:
        env:
          REGISTRY_USER: {secret: harbor, secretKey: username}
          REGISTRY_PASSWORD: {secret: harbor, secretKey: password}
        script: echo pushing
"""


def make_secret(cluster: Cluster, namespace: str, name: str, data: dict[str, str]) -> None:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    cluster.core.create_namespaced_secret(namespace, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name=name),
                                                                  data=encoded))


def test_a_step_reads_the_namespaces_secret_by_reference_and_its_value_is_masked(
        tmp_path: Path, cluster: Cluster, namespace: str) -> None:
    make_secret(cluster, namespace, "harbor", {"username": "robot$ci", "password": "hunter2-xyz"})
    # the termination message (what a failing step said) carries the value: the stored reason must not
    run = Run(tmp_path, cluster, namespace, PIPELINE,
              {"push": {"wishstar.dev/kwok": "fail", "kwok.wishstar.dev/exit-code": "4",
                        "kwok.wishstar.dev/message": '{"exitCode":4,"error":"login hunter2-xyz refused"}'}},
              keep=True)
    data = run.go()
    assert data["status"] == "failed", data
    pod = cluster.core.read_namespaced_pod(run.pod_name("push"), namespace)
    refs = {e.name: (e.value_from.secret_key_ref.name, e.value_from.secret_key_ref.key)
            for e in pod.spec.containers[0].env if e.value_from is not None}
    assert refs == {"REGISTRY_USER": ("harbor", "username"), "REGISTRY_PASSWORD": ("harbor", "password")}
    assert "hunter2-xyz" not in str(pod.spec.to_dict())  # (the KWOK annotation above has it, the spec not)
    attempt_secrets = cluster.core.list_namespaced_secret(namespace, label_selector=run_selector(run.run_id)).items
    assert attempt_secrets == []  # no copy of the value in an attempt's Secret
    stored = str(shape.run_dict(run.store.get_run(run.run_id)))
    assert "hunter2-xyz" not in stored
    assert "login *** refused" in run.tasks()["push"]["reason"], run.tasks()["push"]
    assert set(run.runner.masker_values) >= {"robot$ci", "hunter2-xyz"}


def test_missing_secrets_and_keys_fail_the_run_before_any_pod_naming_each(
        tmp_path: Path, cluster: Cluster, namespace: str) -> None:
    make_secret(cluster, namespace, "harbor", {"username": "robot"})
    run = Run(tmp_path, cluster, namespace, PIPELINE + """
      deploy:
        env: {KUBE_TOKEN: {secret: deployer}}
        script: echo deploying
    """)
    with pytest.raises(Exception, match="does not exist"):
        run.go()
    data = shape.run_dict(run.store.get_run(run.run_id))
    assert data["status"] == "failed"
    reason = data["reason"]
    assert 'Secret "harbor" has no key password (its keys: username)' in reason, reason
    assert 'Secret "deployer" does not exist' in reason, reason
    assert f'namespace "{namespace}"' in reason and "secretKey" in reason, reason
    assert "engine stopped" not in reason
    assert cluster.core.list_namespaced_pod(namespace, label_selector=run_selector(run.run_id)).items == []


def test_a_given_secret_wins_over_the_namespaces_and_no_get_is_needed_then(
        tmp_path: Path, cluster: Cluster, namespace: str) -> None:
    client = apply_role(cluster, namespace, "noget", drop=("secrets", "get"))
    run = Run(tmp_path, cluster, namespace, PIPELINE, client=client, keep=True)
    run.runner.secrets = {"harbor": "given-value"}
    run.runner.masker_values = ["given-value"]
    data = run.go()
    assert data["status"] == "succeeded", data
    pod = cluster.core.read_namespaced_pod(run.pod_name("push"), namespace)
    names = {e.value_from.secret_key_ref.name for e in pod.spec.containers[0].env if e.value_from is not None}
    assert names == {pod.metadata.name}  # the attempt's own Secret, holding the given value


def test_without_get_on_secrets_the_run_fails_naming_the_verb(tmp_path: Path, cluster: Cluster,
                                                              namespace: str) -> None:
    make_secret(cluster, namespace, "harbor", {"username": "u", "password": "p"})
    client = apply_role(cluster, namespace, "nosecrets", drop=("secrets", "get"))
    run = Run(tmp_path, cluster, namespace, PIPELINE, client=client)
    with pytest.raises(Exception, match="secrets"):
        run.go()
    reason = run.store.get_run(run.run_id).reason or ""
    assert 'the verb "get" on "secrets"' in reason and f'namespace "{namespace}"' in reason, reason
