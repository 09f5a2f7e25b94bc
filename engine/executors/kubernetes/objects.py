"""The objects the executor creates besides what the compiler decides: the run's owner, workspace claims,
a task attempt's Secret; and the step of filling a compiled Pod with the attempt's run-time values.

Why: ``engine.compiler.pods`` decides what a task Pod contains but leaves run-time references
(``$(tasks.build.results.tag)``, ``$(tasks.status)``) for when the task starts, and it puts pipeline secrets
in as ``secretKeyRef``. The runner resolves those references into a ``ResolvedTask`` (with the paths this
executor gives it: ``RESULTS_DIR`` and ``/wishstar/workspaces/<name>``, which are valid inside the Pod), so
``fill_task`` takes scripts, command lines and env values from the ``ResolvedTask`` and everything else from
the compiled manifest. Secret values go into a Secret of the attempt, never into the Pod spec.

Pure: no client, clock or environment. It must not decide images, names, mounts or limits: that is the
compiler's business (only an extra mount of each workspace at its run-wide path is added).
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
    script_key,
    step_container,
    task_manifests,
    workspace_volume,
)
from wishstar.engine.compiler.types import Plan, ResolvedTask, RunContext, TaskPlan

Json = dict[str, Any]

RUN_LABEL = f"{LABEL_PREFIX}run"
TASK_LABEL = f"{LABEL_PREFIX}task"
ATTEMPT_LABEL = f"{LABEL_PREFIX}attempt"
OWNER_LABEL = f"{LABEL_PREFIX}run-owner"
MANAGED_BY = "app.kubernetes.io/managed-by=wishstar"
WORKSPACES_ALIAS = "/wishstar/workspaces"
"""Where each workspace the task binds is also mounted: ``$(workspaces.X.path)`` as the runner resolves it."""
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
"""How the executor gets the objects of a task attempt (the plan's compiled manifests, filled in)."""


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


def fill_task(task: TaskPlan, resolved: ResolvedTask, config_map: Json, pod: Json) -> TaskObjects:
    """The compiled ConfigMap and Pod with the attempt's run-time values (see the module docstring)."""
    config_map, pod = copy.deepcopy(config_map), copy.deepcopy(pod)
    containers = pod["spec"]["containers"]
    secret_data: dict[str, str] = {}
    for index, (plan_step, step) in enumerate(zip(task.steps, resolved.steps, strict=True)):
        container = containers[index]
        if step.script is not None:
            config_map["data"][script_key(index)] = step.script
        elif step.command:
            args = container["args"]
            head = args[:args.index("--")] if "--" in args else args
            container["args"] = [*head, "--", *step.command, *step.args]
        secret_names = {v.name for v in plan_step.env if v.secret is not None}
        plain_names = {v.name for v in plan_step.env if v.secret is None}
        for entry in container.get("env", ()):
            name = entry["name"]
            if name in secret_names and name in step.env:
                key = secret_key(index, name)
                secret_data[key] = step.env[name]
                entry["valueFrom"] = {"secretKeyRef": {"name": pod["metadata"]["name"], "key": key}}
            elif name in plain_names and name in step.env:
                entry["value"] = step.env[name]
    _alias_workspaces(task, pod)
    secret = None
    if secret_data:
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                  "metadata": copy.deepcopy(config_map["metadata"]), "immutable": True,
                  "stringData": secret_data}
    return TaskObjects(config_map, pod, secret)


def _alias_workspaces(task: TaskPlan, pod: Json) -> None:
    """Mount each bound pipeline workspace once more at ``/wishstar/workspaces/<name>``, where the runner's
    resolution of ``$(workspaces.X.path)`` points (read-only only when every binding is)."""
    read_only: dict[str, bool] = {}
    for binding in task.workspaces:
        read_only[binding.pipeline_workspace] = read_only.get(binding.pipeline_workspace, True) and \
            binding.read_only
    for container in pod["spec"]["containers"]:
        for workspace, ro in read_only.items():
            mount: Json = {"name": workspace_volume(workspace), "mountPath": f"{WORKSPACES_ALIAS}/{workspace}"}
            if ro:
                mount["readOnly"] = True
            container.setdefault("volumeMounts", []).append(mount)


def with_run(objects: TaskObjects, *, namespace: str, owner: Json, labels: Mapping[str, str]) -> TaskObjects:
    """Every object of the attempt in the executor's namespace, with its extra labels, owned by the run's
    owner object (changed in place: ``fill_task`` returns fresh copies)."""
    for obj in (objects.secret, objects.config_map, objects.pod):
        if obj is None:
            continue
        meta = obj["metadata"]
        meta["namespace"] = namespace
        meta["labels"] = {**labels, **meta.get("labels", {})}
        meta["ownerReferences"] = [owner]
    return objects


class PlanManifests:
    """The default ``ManifestSource``: compile the attempt's objects from the plan, then fill them in."""

    def __init__(self, plan: Plan, ctx: RunContext) -> None:
        self.plan = plan
        self.ctx = ctx

    def __call__(self, resolved: ResolvedTask) -> TaskObjects:
        task = self.plan.task(resolved.name)
        config_map, pod = task_manifests(task, self.plan.workspaces, self.ctx, pipeline=self.plan.pipeline,
                                         attempt=resolved.attempt)
        return fill_task(task, resolved, config_map, pod)


def step_containers(resolved: ResolvedTask) -> list[tuple[str, str]]:
    """(step name, container name) in order."""
    return [(s.name, step_container(s.name)) for s in resolved.steps]
