"""``kubernetes:`` settings: the pipeline's and the task's merged into the plan, then into the Pod."""

from __future__ import annotations

import textwrap
from typing import Any

import kubernetes_validate
import yaml

from tests.compiler.test_pods import CASES, K8S_VERSION, manifests_of, step, task
from wishstar.engine.compiler.build import compile_pipeline, pod_settings
from wishstar.engine.compiler.pods import pod_manifest
from wishstar.engine.compiler.types import PodSettings, RunContext, TaskPlan
from wishstar.engine.spec.model import Pipeline

PIPELINE = """
name: shop
kubernetes:
  serviceAccount: builder
  nodeSelector: {pool: ci, kubernetes.io/arch: amd64}
  tolerations: [{key: dedicated, value: ci, effect: NoSchedule}]
  resources: {requests: {cpu: 500m, memory: 512Mi}, limits: {memory: 1Gi}}
  securityContext: {runAsUser: 1000, runAsNonRoot: true}
  imagePullSecrets: [harbor]
  labels: {team: payments}
tasks:
  plain:
    script: make
  heavy:
    script: make big
    kubernetes:
      nodeSelector: {pool: large}
      tolerations: []
      resources: {limits: {memory: 8Gi}}
      securityContext: {fsGroup: 2000}
      labels: {size: large}
"""


def _pipeline(text: str = PIPELINE) -> Pipeline:
    return Pipeline.model_validate(yaml.safe_load(textwrap.dedent(text)))


def _no_library(name: str, values: Any) -> Any:
    raise AssertionError(f"no library task expected, got {name}")


def test_a_task_without_settings_takes_the_pipelines() -> None:
    pipeline = _pipeline()
    plain = pod_settings(pipeline, pipeline.tasks["plain"])
    assert plain.service_account == "builder"
    assert dict(plain.node_selector) == {"pool": "ci", "kubernetes.io/arch": "amd64"}
    assert plain.image_pull_secrets == ("harbor",)
    assert dict(plain.requests) == {"cpu": "500m", "memory": "512Mi"}


def test_task_settings_win_key_by_key_mappings_merge_and_lists_replace() -> None:
    pipeline = _pipeline()
    heavy = pod_settings(pipeline, pipeline.tasks["heavy"])
    assert dict(heavy.node_selector) == {"pool": "large", "kubernetes.io/arch": "amd64"}
    assert heavy.tolerations == ()
    assert dict(heavy.requests) == {"cpu": "500m", "memory": "512Mi"}
    assert dict(heavy.limits) == {"memory": "8Gi"}
    assert dict(heavy.security_context) == {"runAsUser": 1000, "runAsNonRoot": True, "fsGroup": 2000}
    assert dict(heavy.labels) == {"team": "payments", "size": "large"}
    assert heavy.service_account == "builder"


def test_without_settings_the_plan_carries_nothing_and_the_pod_is_unchanged() -> None:
    pipeline = _pipeline("name: p\ntasks:\n  t:\n    script: make\n")
    plan = compile_pipeline(pipeline, RunContext(), _no_library)
    assert plan.tasks["t"].kubernetes == PodSettings()
    assert not plan.tasks["t"].kubernetes.is_set()


def test_compiled_plans_carry_the_merged_settings_into_a_valid_pod() -> None:
    plan = compile_pipeline(_pipeline(), RunContext(run_id="r1", number=1), _no_library)
    pod = pod_manifest(plan.tasks["heavy"], (), RunContext(run_id="r1", number=1), pipeline="shop")
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    assert pod["spec"]["nodeSelector"] == {"pool": "large", "kubernetes.io/arch": "amd64"}
    assert pod["spec"]["serviceAccountName"] == "builder"
    assert "tolerations" not in pod["spec"]
    assert pod["metadata"]["labels"]["size"] == "large"


def test_only_the_first_step_requests_resources_so_the_pod_reserves_one_steps_worth() -> None:
    pod = manifests_of("pod-settings")[1]
    first, second = (c["resources"] for c in pod["spec"]["containers"])
    assert first["requests"] == {"cpu": "500m", "memory": "512Mi"}
    assert second["requests"] == {"cpu": "0", "memory": "0", "ephemeral-storage": "0"}
    assert first["limits"] == second["limits"] == {"memory": "1Gi", "ephemeral-storage": "2Gi"}


def test_task_labels_and_annotations_never_replace_wishstars_own() -> None:
    plan, _, ctx = CASES["pod-settings"]
    meta = manifests_of("pod-settings")[1]["metadata"]
    assert meta["labels"]["wishstar.dev/run"] == ctx.run_id
    assert meta["annotations"]["wishstar.dev/task"] == plan.name
    assert meta["labels"]["team"] == "payments"


def test_settings_go_on_the_pod_only_not_on_the_configmap() -> None:
    config_map = manifests_of("pod-settings")[0]
    assert "team" not in config_map["metadata"]["labels"]


def test_a_single_step_task_requests_exactly_what_it_says() -> None:
    settings = PodSettings(requests={"cpu": "1"}, limits={"cpu": "2"})
    plan: TaskPlan = task("t", (step("run", script="true"),), kubernetes=settings)
    container = pod_manifest(plan, (), RunContext(), pipeline="p")["spec"]["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "1"}, "limits": {"cpu": "2"}}
