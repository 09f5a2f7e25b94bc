"""The objects the executor creates besides what the compiler decides: the run's owner, workspace claims,
a task attempt's Secret; and the attempt's ConfigMap and Pod, compiled from the plan.

Why: what ``wishstar plan --output yaml`` prints must be what runs. So an attempt's ConfigMap and Pod come from
``engine.compiler.pods.task_manifests``, the function plan uses, with the same run context and entrypoint,
only with the attempt number and the attempt's run-time values (``ResolvedTask.runtime``: earlier results and
statuses) that plan cannot know. Two things are added here and nowhere else: secret values the run was given
(``--secret``) go into a Secret of the attempt, never into the Pod spec (the Pod's ``secretKeyRef`` is pointed
at it); and ``with_run`` adds ``ownerReferences`` (the run owner's uid exists only once it is created) and the
executor's extra labels. docs/kubernetes-manifests.md lists this.

Pure: no client, clock or environment. It must not decide images, names, mounts or limits: that is the
compiler's business.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wishstar.engine.compiler.pods import (
    LABEL_PREFIX,
    claim_name,
    dns_label,
    label_value,
    step_container,
    task_manifests,
)
from wishstar.engine.compiler.types import Plan, ResolvedTask, RunContext, TaskPlan

Json = dict[str, Any]

RUN_LABEL = f"{LABEL_PREFIX}run"
TASK_LABEL = f"{LABEL_PREFIX}task"
ATTEMPT_LABEL = f"{LABEL_PREFIX}attempt"
OWNER_LABEL = f"{LABEL_PREFIX}run-owner"
MANAGED_BY = "app.kubernetes.io/managed-by=wishstar"
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")


@dataclass(frozen=True)
class TaskObjects:
    """One attempt's objects in creation order: Secret (when a step has secret env), ConfigMap, Pod."""

    config_map: Json
    pod: Json
    secret: Json | None = None

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])


ManifestSource = Callable[[ResolvedTask], TaskObjects]
"""How the executor gets the objects of a task attempt (``PlanManifests``: compiled from the plan)."""


def run_selector(run_id: str) -> str:
    return f"{RUN_LABEL}={label_value(run_id)}"


def owner_name(run_id: str) -> str:
    return dns_label(f"wishstar-run-{run_id}")


def owner_manifest(run_id: str, namespace: str, labels: Mapping[str, str] = {}) -> Json:
    """The run's owner: a ConfigMap every other object of the run names in ``ownerReferences``; deleting it
    lets the garbage collector remove the run's Pods, ConfigMaps, Secrets and claims."""
    meta_labels = {**labels, "app.kubernetes.io/managed-by": "wishstar", RUN_LABEL: label_value(run_id),
                   OWNER_LABEL: "true"}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": owner_name(run_id), "namespace": namespace, "labels": meta_labels,
                         "annotations": {RUN_LABEL: run_id}},
            "data": {"run": run_id}}


def owner_reference(owner: Mapping[str, Any]) -> Json:
    meta = owner["metadata"]
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": meta["name"], "uid": meta["uid"]}


def claim_manifest(run_id: str, workspace: str, namespace: str, *, size: str, storage_class: str | None,
                   access_modes: tuple[str, ...], owner: Json, labels: Mapping[str, str] = {}) -> Json:
    spec: Json = {"accessModes": list(access_modes), "resources": {"requests": {"storage": size}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    meta_labels = {**labels, "app.kubernetes.io/managed-by": "wishstar", RUN_LABEL: label_value(run_id),
                   f"{LABEL_PREFIX}workspace": label_value(workspace)}
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim_name(run_id, workspace), "namespace": namespace, "labels": meta_labels,
                         "ownerReferences": [owner]},
            "spec": spec}


def secret_key(step_index: int, env_name: str) -> str:
    key = f"{step_index}.{env_name}"
    if _SECRET_KEY.fullmatch(key) and len(key) <= 253:
        return key
    return f"{step_index}.{hashlib.sha256(env_name.encode()).hexdigest()[:16]}"


def given_secrets(task: TaskPlan, resolved: ResolvedTask, config_map: Json, pod: Json) -> TaskObjects:
    """The attempt's objects, with each secret value the run was given (in ``resolved``'s env) moved into a
    Secret of the attempt that the Pod's ``secretKeyRef`` then names; secrets the run was not given stay
    references to the namespace's Secret, as compiled. Changes ``pod`` in place."""
    secret_data: dict[str, str] = {}
    for index, (plan_step, step) in enumerate(zip(task.steps, resolved.steps, strict=True)):
        secret_names = {v.name for v in plan_step.env if v.secret is not None}
        for entry in pod["spec"]["containers"][index].get("env", ()):
            name = entry["name"]
            if name in secret_names and name in step.env:
                key = secret_key(index, name)
                secret_data[key] = step.env[name]
                entry["valueFrom"] = {"secretKeyRef": {"name": pod["metadata"]["name"], "key": key}}
    secret = None
    if secret_data:
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                  "metadata": copy.deepcopy(config_map["metadata"]), "immutable": True,
                  "stringData": secret_data}
    return TaskObjects(config_map, pod, secret)


def with_run(objects: TaskObjects, *, namespace: str, owner: Json, labels: Mapping[str, str]) -> TaskObjects:
    """Every object of the attempt in the executor's namespace, with its extra labels, owned by the run's
    owner object (changed in place: ``PlanManifests`` compiles fresh objects for each attempt)."""
    for obj in (objects.secret, objects.config_map, objects.pod):
        if obj is None:
            continue
        meta = obj["metadata"]
        meta["namespace"] = namespace
        meta["labels"] = {**labels, **meta.get("labels", {})}
        meta["ownerReferences"] = [owner]
    return objects


class PlanManifests:
    """The default ``ManifestSource``: the attempt's objects compiled from the plan by ``task_manifests`` (the
    function ``wishstar plan`` prints), with the attempt's number and run-time values."""

    def __init__(self, plan: Plan, ctx: RunContext, entrypoint: str) -> None:
        self.plan = plan
        self.ctx = ctx
        self.entrypoint = entrypoint

    def __call__(self, resolved: ResolvedTask) -> TaskObjects:
        task = self.plan.task(resolved.name)
        config_map, pod = task_manifests(task, self.plan.workspaces, self.ctx, pipeline=self.plan.pipeline,
                                         entrypoint=self.entrypoint, attempt=resolved.attempt,
                                         runtime=resolved.runtime)
        return given_secrets(task, resolved, config_map, pod)


def step_containers(resolved: ResolvedTask) -> list[tuple[str, str]]:
    """(step name, container name) in order."""
    return [(s.name, step_container(s.name)) for s in resolved.steps]
