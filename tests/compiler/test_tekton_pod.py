"""What of a Tekton task only Kubernetes honours reaches its Pod: the steps' container fields, the task's volumes
and its sidecars (as native sidecars), next to Wishstar's own mounts and variables; and the image-entrypoint
rules (ENTRYPOINT, CMD, the step's args) as the compiler applies a lookup's answers."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import kubernetes_validate
import pytest

from wishstar.engine.compiler.build import UsesExpansion, compile_pipeline
from wishstar.engine.compiler.images import ImageConfig, ImageNeed, image_command, image_needs, with_image_configs
from wishstar.engine.compiler.library import expand_library_task, uses_expansion
from wishstar.engine.compiler.pods import ManifestError, task_manifests
from wishstar.engine.compiler.types import PodSettings, RunContext, TaskPlan
from wishstar.engine.spec.model import ParamValue, Pipeline
from wishstar.engine.spec.tekton import load_task

CTX = RunContext(run_id="r1", number=3, namespace="ci")
TASK = """
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: dind-build}
spec:
  params:
    - {name: STORAGE, default: vfs}
  volumes:
    - {name: certs, emptyDir: {}}
    - {name: settings, configMap: {name: build-settings}}
  stepTemplate:
    securityContext: {runAsUser: 1000}
  sidecars:
    - name: docker
      image: docker.io/library/docker:28.1.1-dind
      args: [--storage-driver=$(params.STORAGE)]
      securityContext: {privileged: true}
      volumeMounts: [{name: certs, mountPath: /certs}]
    - name: wait
      image: docker.io/library/busybox:1.36.1
      script: sleep 3600
  steps:
    - name: build
      image: docker.io/library/docker:28.1.1-cli
      script: docker build .
      securityContext: {privileged: true, runAsUser: 0}
      envFrom: [{configMapRef: {name: build-env}}]
      env:
        - {name: LEVEL, valueFrom: {configMapKeyRef: {name: build-settings, key: level}}}
        - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
      computeResources: {requests: {cpu: 500m}}
      imagePullPolicy: IfNotPresent
      volumeMounts:
        - {name: certs, mountPath: /certs}
        - {name: settings, mountPath: /etc/build}
    - name: entry-only
      image: registry.example.com/tools/report:2.1
      args: [--format, json]
"""


def plan_of(text: str, with_: Mapping[str, ParamValue] | None = None,
            kubernetes: Mapping[str, Any] | None = None) -> TaskPlan:
    task = load_task(textwrap.dedent(text), "task.yaml")

    def expand(name: str, values: Mapping[str, ParamValue]) -> UsesExpansion:
        return uses_expansion(expand_library_task(task, values))

    spec: dict[str, Any] = {"uses": task.name, "with": dict(with_ or {})}
    if kubernetes:
        spec["kubernetes"] = dict(kubernetes)
    plan = compile_pipeline(Pipeline.model_validate({"name": "p", "tasks": {"t": spec}}), CTX, expand)
    configs = {"registry.example.com/tools/report:2.1": ImageConfig(("/bin/report",), ("--all",))}
    return with_image_configs(plan, lambda needs: configs, CTX.default_image).tasks["t"]


def pod_of(task: TaskPlan) -> dict[str, Any]:
    config_map, pod = task_manifests(task, (), CTX, pipeline="p", entrypoint="#!/bin/sh\n")
    kubernetes_validate.validate(config_map, "1.34.0", strict=True)
    kubernetes_validate.validate(pod, "1.34.0", strict=True)
    return {"config_map": config_map, **pod["spec"]}


def test_a_steps_kubernetes_fields_reach_its_container_beside_wishstars_own() -> None:
    build = pod_of(plan_of(TASK))["containers"][0]
    assert build["securityContext"] == {"privileged": True, "runAsUser": 0}  # the step's own over its template
    assert build["envFrom"] == [{"configMapRef": {"name": "build-env"}}]
    env = {e["name"]: e for e in build["env"]}
    assert env["LEVEL"]["valueFrom"] == {"configMapKeyRef": {"name": "build-settings", "key": "level"}}
    assert env["NODE"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert env["WISHSTAR_TASK"]["value"] == "t"
    assert build["resources"] == {"requests": {"cpu": "500m"}}
    assert build["imagePullPolicy"] == "IfNotPresent"
    mounts = [(m["name"], m["mountPath"]) for m in build["volumeMounts"]]
    assert mounts[:3] == [("wishstar-scripts", "/wishstar/scripts"), ("wishstar-run", "/wishstar/run"),
                          ("wishstar-results", "/wishstar/results")]
    assert mounts[3:] == [("certs", "/certs"), ("settings", "/etc/build")]


def test_the_task_volumes_join_wishstars_in_the_pod() -> None:
    volumes = pod_of(plan_of(TASK))["volumes"]
    assert [v["name"] for v in volumes] == ["wishstar-scripts", "wishstar-run", "wishstar-results", "certs",
                                            "settings"]
    assert volumes[-1] == {"name": "settings", "configMap": {"name": "build-settings"}}


def test_the_pipelines_kubernetes_settings_win_over_the_tasks_key_by_key() -> None:
    settings = {"containerSecurityContext": {"runAsUser": 1234, "allowPrivilegeEscalation": False},
                "resources": {"requests": {"cpu": "1"}}}
    build = pod_of(plan_of(TASK, kubernetes=settings))["containers"][0]
    assert build["securityContext"] == {"privileged": True, "runAsUser": 1234, "allowPrivilegeEscalation": False}
    assert build["resources"] == {"requests": {"cpu": "1"}}


def test_sidecars_are_native_sidecars_that_stop_when_the_steps_end() -> None:
    spec = pod_of(plan_of(TASK, {"STORAGE": "overlay2"}))
    docker, wait = spec["initContainers"]
    assert docker["name"] == "sidecar-docker" and docker["restartPolicy"] == "Always"
    assert docker["args"] == ["--storage-driver=overlay2"] and docker["securityContext"] == {"privileged": True}
    assert ("certs", "/certs") in [(m["name"], m["mountPath"]) for m in docker["volumeMounts"]]
    assert wait["command"] == ["/wishstar/scripts/sidecar-1"]
    assert spec["config_map"]["data"]["sidecar-1"] == "#!/bin/sh\nset -e\nsleep 3600"


def test_an_image_only_step_runs_the_looked_up_entrypoint_with_its_args_in_place_of_cmd() -> None:
    task = plan_of(TASK)
    entry = task.steps[1]
    assert (entry.command, entry.args, entry.image_entrypoint) == (("/bin/report",), ("--format", "json"), True)
    container = pod_of(task)["containers"][1]
    assert container["args"][container["args"].index("--"):] == ["--", "/bin/report", "--format", "json"]


@pytest.mark.parametrize(("entrypoint", "cmd", "args", "expected"), [
    (("/bin/tool",), ("--help",), (), (("/bin/tool",), ("--help",))),
    (("/bin/tool",), ("--help",), ("run",), (("/bin/tool",), ("run",))),
    ((), ("/bin/sh", "-c", "echo"), (), (("/bin/sh", "-c", "echo"), ())),
    ((), ("/bin/sh",), ("/bin/echo", "hi"), (("/bin/echo", "hi"), ())),
    ((), (), (), ((), ())),
], ids=["entrypoint-and-cmd", "args-replace-cmd", "cmd-only", "args-without-entrypoint", "nothing"])
def test_the_command_is_what_a_container_runtime_would_run(entrypoint: tuple[str, ...], cmd: tuple[str, ...],
                                                          args: tuple[str, ...],
                                                          expected: tuple[tuple[str, ...], tuple[str, ...]]) -> None:
    assert image_command(ImageConfig(entrypoint, cmd), args) == expected


def test_steps_needing_a_lookup_are_named_with_their_task_and_the_image_they_run() -> None:
    task = load_task(textwrap.dedent(TASK), "task.yaml")
    pipeline = Pipeline.model_validate({"name": "p", "tasks": {"t": {"uses": task.name}}})
    plan = compile_pipeline(pipeline, CTX, lambda n, v: uses_expansion(expand_library_task(task, v)))
    assert image_needs(plan, CTX.default_image) == [ImageNeed("registry.example.com/tools/report:2.1", "t",
                                                              "entry-only")]


def test_an_image_with_neither_entrypoint_nor_cmd_is_refused_for_the_pod() -> None:
    task = load_task(textwrap.dedent(TASK), "task.yaml")
    pipeline = Pipeline.model_validate({"name": "p", "tasks": {"t": {"uses": task.name}}})
    plan = compile_pipeline(pipeline, CTX, lambda n, v: uses_expansion(expand_library_task(task, v)))
    entry_only = replace(plan.tasks["t"].steps[1], args=())
    plan = replace(plan, tasks={"t": replace(plan.tasks["t"], steps=(entry_only,))})
    plan = with_image_configs(plan, lambda needs: {n.image: ImageConfig((), ()) for n in needs}, CTX.default_image)
    with pytest.raises(ManifestError, match=re.escape('step "entry-only": it runs the entrypoint of image '
                                                      "registry.example.com/tools/report:2.1, which is not known")):
        pod_of(plan.tasks["t"])


@pytest.mark.parametrize(("old", "new", "message"), [
    ("{name: settings, mountPath: /etc/build}", "{name: setings, mountPath: /etc/build}",
     'task "t", step "build": volumeMount "setings" names no volume of the task (spec.volumes: certs, settings)'),
    ("name: certs", "name: wishstar-run",
     'task "t", volume "wishstar-run" has the name of one of Wishstar\'s own volumes'),
    ("{name: settings, mountPath: /etc/build}", "{name: settings, mountPath: /wishstar/run}",
     'task "t", step "build": volumeMount "settings" at /wishstar/run takes the place of Wishstar\'s '
     '"wishstar-run" mount'),
], ids=["unknown-volume", "reserved-volume-name", "reserved-mount-path"])
def test_task_parts_that_cannot_go_into_the_pod_are_refused_naming_the_task(old: str, new: str,
                                                                           message: str) -> None:
    with pytest.raises(ManifestError) as failed:
        pod_of(plan_of(TASK.replace(old, new)))
    assert str(failed.value).startswith(message)


def test_local_plans_ignore_what_only_kubernetes_honours() -> None:
    task = plan_of(TASK)
    assert task.kubernetes == PodSettings() and task.volumes and task.sidecars
    notes = " ".join(task.notes)
    assert 'sidecar "docker"' in notes and "volumes (certs, settings)" in notes and "securityContext" in notes
