"""The executor's own objects, and an attempt's objects: the plan's manifests with the attempt's run-time values.

``PlanManifests`` compiles the attempt with the function ``wishstar plan`` uses, filling in earlier results and
statuses, and moves secret values the run was given into a Secret of the attempt.
"""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest

from wishstar.engine.compiler.pods import attempt_paths, task_manifests
from wishstar.engine.compiler.resolve import RuntimeView, resolve_task
from wishstar.engine.compiler.types import (
    EnvVar,
    Plan,
    RetryPlan,
    RunContext,
    StepPlan,
    TaskPlan,
    WorkspaceBinding,
)
from wishstar.engine.executors.base import RunEnv
from wishstar.engine.executors.kubernetes.objects import (
    PlanManifests,
    TaskObjects,
    claim_manifest,
    owner_manifest,
    owner_name,
    owner_reference,
    run_selector,
    with_run,
)
from wishstar.steps import entrypoint

CTX = RunContext(run_id="r-1", number=7, namespace="ci")
SECRET_VALUE = "s3cr3t-value"


def step(name: str, **kw: Any) -> StepPlan:
    base: dict[str, Any] = {"image": None, "script": None, "command": None, "args": (), "env": (),
                            "working_dir": None, "timeout_s": None}
    base.update(kw)
    return StepPlan(name=name, **base)


def task(*steps: StepPlan, results: tuple[str, ...] = (), workspaces: tuple[WorkspaceBinding, ...] = ()) -> TaskPlan:
    return TaskPlan(name="package", base="package", is_finally=False, uses=None, image="debian:12", steps=steps,
                    needs=(), result_refs=(), when=None, results=results, workspaces=workspaces, working_dir=None,
                    timeout_s=60, retries=RetryPlan(), allow_failure=False)


def fill(plan: TaskPlan, results: dict[str, dict[str, str]], attempt: int = 1) -> TaskObjects:
    """The attempt's objects as the executor builds them: resolved by the runner's function with the executor's
    paths, compiled by ``PlanManifests``."""
    view = RuntimeView(run_id="r-1", results=results, statuses={}, aggregate_status="",
                       secrets={"TOKEN": SECRET_VALUE}, base_env={"PATH": "/host/only/path", "HOME": "/root"})
    resolved = resolve_task(plan, view, attempt=attempt, paths=attempt_paths(plan, "r-1", CTX.namespace),
                            default_cwd="/local/checkout")
    return PlanManifests(plan_of(plan), CTX, entrypoint())(resolved)


def plan_of(task: TaskPlan) -> Plan:
    return Plan(pipeline="shop", tasks={task.name: task}, finally_tasks={}, edges=(), layers=((task.name,),),
                params={}, workspaces=("src",), timeout_s=None, concurrency=None, on_failure="wait")


PLAN = task(
    step("pack", script='tar czf "app-$(tasks.version.results.tag).tgz" . > "$(results.out.path)"\n'
                        'ls $(workspaces.source.path) # in $(context.taskRun.namespace), try $(context.task.attempt)',
         env=(EnvVar("VERSION", "v$(tasks.version.results.tag)"), EnvVar("API_TOKEN", secret="TOKEN"))),
    step("push", command=("curl", "-T"), args=("app-$(tasks.version.results.tag).tgz",)),
    results=("out",),
    workspaces=(WorkspaceBinding("source", "src"),),
)


def test_run_time_references_are_filled_in_scripts_commands_and_env() -> None:
    objects = fill(PLAN, {"version": {"tag": "1.2.3"}})
    assert objects.config_map["data"]["step-0"] == ('tar czf "app-1.2.3.tgz" . > "/wishstar/results/out"\n'
                                                    "ls /workspace/source # in ci, try 1")
    push = objects.pod["spec"]["containers"][1]
    assert push["args"][push["args"].index("--"):] == ["--", "curl", "-T", "app-1.2.3.tgz"]
    env = {e["name"]: e for e in objects.pod["spec"]["containers"][0]["env"]}
    assert env["VERSION"] == {"name": "VERSION", "value": "v1.2.3"}


def test_host_environment_from_the_runner_never_reaches_the_pod() -> None:
    objects = fill(PLAN, {"version": {"tag": "1"}})
    names = {e["name"] for c in objects.pod["spec"]["containers"] for e in c["env"]}
    assert "PATH" not in names and "HOME" not in names


def test_secret_values_go_to_the_attempts_secret_and_never_into_the_pod_or_configmap() -> None:
    objects = fill(PLAN, {"version": {"tag": "1"}})
    assert SECRET_VALUE not in json.dumps(objects.pod) + json.dumps(objects.config_map)
    assert objects.secret is not None
    assert objects.secret["stringData"] == {"0.API_TOKEN": SECRET_VALUE}
    env = {e["name"]: e for e in objects.pod["spec"]["containers"][0]["env"]}
    assert env["API_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": objects.name, "key": "0.API_TOKEN"}}


def test_a_task_without_secret_env_gets_no_secret() -> None:
    objects = fill(task(step("a", script="true")), {})
    assert objects.secret is None


def test_without_secrets_or_run_time_references_the_attempt_is_exactly_what_plan_compiles() -> None:
    plain = task(step("a", script="cd $(workspaces.source.path) && make > $(results.out.path)"),
                 step("b", command=("ls", "$(workspaces.source.path)")), results=("out",),
                 workspaces=(WorkspaceBinding("source", "src"),))
    objects = fill(plain, {})
    assert [objects.config_map, objects.pod] == task_manifests(plain, ("src",), CTX, pipeline="shop",
                                                               entrypoint=entrypoint())
    assert objects.secret is None


def test_run_time_values_are_the_only_difference_from_the_plan() -> None:
    objects = fill(PLAN, {"version": {"tag": "9.9"}}, attempt=2)
    config_map, pod = task_manifests(PLAN, ("src",), CTX, pipeline="shop", entrypoint=entrypoint(), attempt=2)
    assert config_map["data"]["step-0"].replace("$(tasks.version.results.tag)", "9.9") == \
        objects.config_map["data"]["step-0"]
    assert objects.pod["spec"]["volumes"] == pod["spec"]["volumes"]
    assert [c["volumeMounts"] for c in objects.pod["spec"]["containers"]] == \
        [c["volumeMounts"] for c in pod["spec"]["containers"]]
    assert [c["image"] for c in objects.pod["spec"]["containers"]] == ["debian:12", "debian:12"]


def test_workspace_paths_in_the_pod_are_the_mount_paths_plan_shows() -> None:
    objects = fill(PLAN, {"version": {"tag": "1"}})
    mounts = [m["mountPath"] for m in objects.pod["spec"]["containers"][0]["volumeMounts"]]
    assert mounts == ["/wishstar/scripts", "/wishstar/run", "/wishstar/results", "/workspace/source"]
    assert "/workspace/source" in objects.config_map["data"]["step-0"]


def test_filled_objects_owned_by_the_run_are_valid_kubernetes_objects() -> None:
    objects = fill(PLAN, {"version": {"tag": "1"}})
    owner = {**owner_manifest("r-1", "ci"), "metadata": {**owner_manifest("r-1", "ci")["metadata"], "uid": "u-1"}}
    with_run(objects, namespace="other", owner=owner_reference(owner), labels={"team": "shop"})
    for obj in (objects.secret, objects.config_map, objects.pod):
        assert obj is not None
        assert obj["metadata"]["namespace"] == "other"
        assert obj["metadata"]["ownerReferences"] == [{"apiVersion": "v1", "kind": "ConfigMap",
                                                       "name": "wishstar-run-r-1", "uid": "u-1"}]
        assert obj["metadata"]["labels"]["team"] == "shop"
        assert obj["metadata"]["labels"]["wishstar.dev/run"] == "r-1"
        kubernetes_validate.validate(obj, "1.31", strict=True)


def test_run_selector_and_owner_name_use_sanitised_run_ids() -> None:
    assert run_selector("r-1") == "wishstar.dev/run=r-1"
    assert run_selector("Run_With/Odd") .startswith("wishstar.dev/run=run-with-odd-")
    assert owner_name("r-1") == "wishstar-run-r-1"


def test_workspace_claims_are_owned_by_the_run_and_take_the_storage_class() -> None:
    claim = claim_manifest("r-1", "src", "ci", size="2Gi", storage_class="fast", access_modes=("ReadWriteOnce",),
                           owner={"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u"})
    assert claim["metadata"]["name"] == "wishstar-r-1-src"
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}},
                             "storageClassName": "fast"}
    kubernetes_validate.validate(claim, "1.31", strict=True)
    default_class = claim_manifest("r-1", "src", "ci", size="1Gi", storage_class=None,
                                   access_modes=("ReadWriteOnce",), owner={})
    assert "storageClassName" not in default_class["spec"]


@pytest.mark.parametrize("run_id", ["r-1", "20260101-abc"])
def test_the_owner_object_is_a_valid_configmap_labelled_with_the_run(run_id: str) -> None:
    owner = owner_manifest(run_id, "ci")
    kubernetes_validate.validate(owner, "1.31", strict=True)
    assert owner["metadata"]["labels"]["wishstar.dev/run"] == run_id


def test_the_factory_puts_manifests_in_the_executors_namespace_with_its_default_image() -> None:
    from wishstar.engine.executors.kubernetes import make_kubernetes_executor
    from wishstar.engine.executors.kubernetes.client import KubeClient

    fake_client = KubeClient.__new__(KubeClient)
    executor = make_kubernetes_executor(plan_of(PLAN), CTX, entrypoint=entrypoint(), namespace="builds",
                                        default_image="busybox:1", qps=5, burst=10, client=fake_client,
                                        image_pull_grace_s=5)
    assert (executor.namespace, executor.config.qps, executor.config.burst) == ("builds", 5, 10)
    assert executor.config.attempt.image_pull_grace_s == 5
    view = RuntimeView(run_id="r-1", results={"version": {"tag": "1"}}, statuses={}, aggregate_status="",
                       secrets={"TOKEN": "x"}, base_env={})
    run = RunEnv("r-1", "/tmp/r-1", None, ("src",))
    resolved = resolve_task(PLAN, view, attempt=2, paths=executor.reference_paths(run, PLAN, 2), default_cwd="/")
    objects = executor.manifests(resolved)
    assert objects.pod["metadata"]["namespace"] == "builds"
    assert objects.name == "shop-7-package-a2"
    assert "# in builds, try 2" in objects.config_map["data"]["step-0"]
    assert resolved.steps[0].script == objects.config_map["data"]["step-0"]
