"""One task instance as the Kubernetes objects it becomes: a ConfigMap with its scripts, and a Pod.

Why it exists: the Kubernetes executor should only create objects, never decide what they contain.
Everything a reviewer may want to read before a run (images, env, mounts, limits, names) is decided here,
from the plan and the run context alone, so ``wishstar plan`` can print it and golden files can pin it.
See docs/kubernetes-manifests.md for the design and the reasons behind each choice.

What it must not do: touch the outside world (no Kubernetes client, no clock, no environment, no files) or
put a script, or any value from the git event, inside a command line. Scripts travel only as ConfigMap data;
git values only as literal env values. Identical input gives identical dicts, built in a fixed order, so a
YAML dump with ``sort_keys=False`` is byte-stable. Every ``$(...)`` reference is answered by
``engine.compiler.resolve.reference_lookup`` with ``attempt_paths``: ``wishstar plan`` calls ``task_manifests``
without run-time values (``$(tasks.x.results.y)`` and ``$(tasks.status)`` stay as written), the Kubernetes
executor calls the same function with the attempt's values, so what plan prints is what is created.
"""

from __future__ import annotations

import copy
import hashlib
import math
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from wishstar.engine.compiler.entrypoint import (
    ENTRYPOINT_KEY,
    RESULTS_DIR,
    RUN_DIR,
    SCRIPTS_DIR,
    entrypoint_args,
    message_limit,
)
from wishstar.engine.compiler.images import needs_image_config, step_image
from wishstar.engine.compiler.resolve import reference_lookup
from wishstar.engine.compiler.tekton_pod import (
    TaskPartError,
    add_container_fields,
    sidecar_containers,
    sidecar_scripts,
    task_volumes,
)
from wishstar.engine.compiler.types import (
    AttemptPaths,
    EnvVar,
    PodSettings,
    RunContext,
    RuntimeValues,
    StepPlan,
    TaskPlan,
    Toleration,
    WorkspaceBinding,
)
from wishstar.engine.spec.subst import Lookup, substitute

Manifest = dict[str, Any]
_T = TypeVar("_T")

CHECKOUT_WORKSPACE = "source"
"""A bound workspace of this name (task or pipeline side) holds the checkout: the default working dir."""
WORKSPACES_ROOT = "/workspace"
LABEL_PREFIX = "wishstar.dev/"
SCRIPTS_VOLUME = "wishstar-scripts"
RUN_VOLUME = "wishstar-run"
RESULTS_VOLUME = "wishstar-results"
SCRIPTS_MODE = 0o555
"""Readable and executable by anyone: a step with its own ``runAsUser`` can still run a shebang script."""

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_RESULT_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_NOT_DNS = re.compile(r"[^a-z0-9]+")
_HASH_LEN = 8


class ManifestError(ValueError):
    """A task plan that cannot become a valid Pod (the message says which task and what to change)."""


# --- names ----------------------------------------------------------------------------------------


def dns_label(text: str, max_len: int = 63) -> str:
    """``text`` if it already is a DNS-1123 label of at most ``max_len`` characters; otherwise a readable,
    deterministic stand-in: lowercase, runs of other characters as ``-``, cut to fit, and a short hash of the
    original so that distinct inputs (``a_b``, ``a-b``) stay distinct."""
    if len(text) <= max_len and _DNS_LABEL.fullmatch(text):
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LEN]
    cleaned = _NOT_DNS.sub("-", text.lower()).strip("-")
    cleaned = cleaned[: max_len - _HASH_LEN - 1].rstrip("-")
    return f"{cleaned}-{digest}" if cleaned else digest


def label_value(text: str) -> str:
    """``text`` if it is a valid label value (``my_task`` is), else its ``dns_label`` (``test[3.11]``)."""
    if len(text) <= 63 and _LABEL_VALUE.fullmatch(text):
        return text
    return dns_label(text)


def object_name(pipeline: str, number: int, task: str, attempt: int = 1) -> str:
    """The Pod's and the ConfigMap's name: ``<pipeline>-<number>-<task>``, plus ``-a<N>`` for a retry."""
    retry = f"-a{attempt}" if attempt > 1 else ""
    return dns_label(f"{pipeline}-{number}-{task}{retry}")


def claim_name(run_id: str, workspace: str) -> str:
    """The PersistentVolumeClaim behind a pipeline workspace in one run (the executor creates it in setup)."""
    return dns_label(f"wishstar-{run_id}-{workspace}")


def workspace_volume(workspace: str) -> str:
    """The Pod volume name for a pipeline workspace."""
    return dns_label(f"ws-{workspace}")


def step_container(step: str) -> str:
    return dns_label(f"step-{step}")


# --- layout of one Pod -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """What every container of the task shares: default workdir, mounts, and the reference lookup."""

    lookup: Lookup
    workdir: str | None
    mounts: tuple[Manifest, ...]

    def fill(self, text: str) -> str:
        return substitute(text, self.lookup)


def attempt_paths(task: TaskPlan, run_id: str, namespace: str) -> AttemptPaths:
    """Where the task's references point inside its Pod: each workspace at its mount path, results under
    ``RESULTS_DIR``, the claims of the run, the run's namespace. The Kubernetes executor gives the runner the
    same (``reference_paths``), so both resolve every reference alike."""
    return AttemptPaths(workspaces={b.name: mount_path(b) for b in task.workspaces}, results_dir=RESULTS_DIR,
                        namespace=namespace,
                        claims={b.name: claim_name(run_id, b.pipeline_workspace) for b in task.workspaces})


def mount_path(binding: WorkspaceBinding) -> str:
    """Where a task workspace appears: its binding's ``mount_path`` (relative ones under /workspace), else
    ``/workspace/<task workspace name>``."""
    return posixpath.normpath(posixpath.join(WORKSPACES_ROOT, binding.mount_path or binding.name))


def default_workdir(task: TaskPlan) -> str | None:
    """The checkout workspace, else the first one the task maps; none (the image's own) for library tasks,
    which say where they work, and for bindings made only because a script mentions a workspace. The same
    rule as ``engine.compiler.resolve`` locally."""
    if task.uses:
        return None
    explicit = [b for b in task.workspaces if not b.implicit]
    for binding in explicit:
        if CHECKOUT_WORKSPACE in (binding.name, binding.pipeline_workspace):
            return mount_path(binding)
    return mount_path(explicit[0]) if explicit else None


def _check_workspaces(task: TaskPlan, plan_workspaces: tuple[str, ...]) -> None:
    seen: dict[str, str] = {}
    for binding in task.workspaces:
        if binding.pipeline_workspace not in plan_workspaces:
            declared = ", ".join(plan_workspaces) or "none"
            raise ManifestError(f'task "{task.name}": workspace "{binding.name}" is bound to pipeline '
                                f'workspace "{binding.pipeline_workspace}", which the pipeline does not '
                                f"declare (declared: {declared})")
        path = mount_path(binding)
        if path in seen:
            raise ManifestError(f'task "{task.name}": workspaces "{seen[path]}" and "{binding.name}" are '
                                f"both mounted at {path}; give one a different mountPath")
        seen[path] = binding.name


def _check_results(task: TaskPlan) -> None:
    for result in task.results:
        if not _RESULT_NAME.fullmatch(result):
            raise ManifestError(f'task "{task.name}": result name "{result}" must be letters, digits, "-", '
                                f'"_" or "." (it becomes a file name under {RESULTS_DIR})')


def _layout(task: TaskPlan, plan_workspaces: tuple[str, ...], ctx: RunContext, attempt: int,
            runtime: RuntimeValues | None) -> _Layout:
    _check_workspaces(task, plan_workspaces)
    _check_results(task)
    mounts: list[Manifest] = [{"name": SCRIPTS_VOLUME, "mountPath": SCRIPTS_DIR, "readOnly": True},
                              {"name": RUN_VOLUME, "mountPath": RUN_DIR},
                              {"name": RESULTS_VOLUME, "mountPath": RESULTS_DIR}]
    for binding in task.workspaces:
        mount: Manifest = {"name": workspace_volume(binding.pipeline_workspace),
                           "mountPath": mount_path(binding)}
        if binding.read_only:
            mount["readOnly"] = True
        mounts.append(mount)
    paths = attempt_paths(task, ctx.run_id, ctx.namespace)
    return _Layout(lookup=reference_lookup(task, paths, attempt=attempt, runtime=runtime),
                   workdir=default_workdir(task), mounts=tuple(mounts))


# --- containers -----------------------------------------------------------------------------------


def _env_var(var: EnvVar, layout: _Layout) -> Manifest:
    if var.secret is not None:
        ref = {"name": var.secret, "key": var.key}
        return {"name": var.name, "valueFrom": {"secretKeyRef": ref}}
    return {"name": var.name, "value": layout.fill(var.value or "")}


def _env(step: StepPlan, task: TaskPlan, ctx: RunContext, pipeline: str, layout: _Layout) -> list[Manifest]:
    """Wishstar's variables, then the git event's (literal values, never in a command line), then the step's;
    a step variable of the same name replaces the earlier one, as a later assignment would in a shell."""
    builtin = {"WISHSTAR_RUN_ID": ctx.run_id, "WISHSTAR_PIPELINE": pipeline, "WISHSTAR_TASK": task.name,
               "WISHSTAR_BUILD_NUMBER": str(ctx.number), **ctx.git.env()}
    env: dict[str, Manifest] = {name: {"name": name, "value": value} for name, value in builtin.items()}
    for var in step.env:
        env[var.name] = _env_var(var, layout)
    return list(env.values())


def _workdir(step: StepPlan, task: TaskPlan, layout: _Layout) -> str | None:
    chosen = step.working_dir or task.working_dir
    if chosen is None:
        return layout.workdir
    chosen = layout.fill(chosen)
    return posixpath.normpath(posixpath.join(layout.workdir or WORKSPACES_ROOT, chosen))


def script_key(index: int) -> str:
    """The ConfigMap key (and file name under the scripts mount) of step ``index``'s script."""
    return f"step-{index}"


def _container(index: int, task: TaskPlan, ctx: RunContext, pipeline: str, layout: _Layout) -> Manifest:
    step = task.steps[index]
    image = step_image(step, task, ctx.default_image)
    if needs_image_config(step):
        raise ManifestError(f'task "{task.name}", step "{step.name}": it runs the entrypoint of image {image}, '
                            "which is not known (the image's config was not looked up, or it names neither "
                            "ENTRYPOINT nor CMD); give the step a command or a script")
    last = index == len(task.steps) - 1
    argv = () if step.script is not None else tuple(map(layout.fill, (*(step.command or ()), *step.args)))
    args = entrypoint_args(
        index=index, name=step.name, timeout_s=step.timeout_s, on_error=step.on_error,
        script_path=f"{SCRIPTS_DIR}/{script_key(index)}" if step.script is not None else None,
        argv=argv, last_results=task.results if last else None, limit=message_limit(len(task.steps)))
    container: Manifest = {
        "name": step_container(step.name),
        "image": image,
        "command": ["/bin/sh", f"{SCRIPTS_DIR}/{ENTRYPOINT_KEY}"],
        "args": args,
    }
    workdir = _workdir(step, task, layout)
    if workdir is not None:
        container["workingDir"] = workdir
    container["env"] = _env(step, task, ctx, pipeline, layout)
    container["volumeMounts"] = [dict(m) for m in layout.mounts]
    resources = _resources(task.kubernetes, first=index == 0)
    if resources:
        container["resources"] = resources
    if task.kubernetes.container_security_context:
        container["securityContext"] = copy.deepcopy(dict(task.kubernetes.container_security_context))
    add_container_fields(container, step, task, layout.fill)
    return container


def _resources(settings: PodSettings, *, first: bool) -> Manifest:
    """Steps run one after another, but the scheduler adds up every container's requests: the first step's
    container carries the task's requests and the others request ``0`` of each resource (an unset request
    would default to the limit), so the Pod reserves what one step needs. Every container gets the limits."""
    out: Manifest = {}
    if first:
        requests = dict(settings.requests)
    else:
        requests = {name: "0" for name in (*settings.requests, *(k for k in settings.limits
                                                                if k not in settings.requests))}
    if requests:
        out["requests"] = requests
    if settings.limits:
        out["limits"] = dict(settings.limits)
    return out


def _containers(task: TaskPlan, ctx: RunContext, pipeline: str, layout: _Layout) -> list[Manifest]:
    if not task.steps:
        raise ManifestError(f'task "{task.name}" has no steps')
    containers = [_container(i, task, ctx, pipeline, layout) for i in range(len(task.steps))]
    names = [c["name"] for c in containers]
    for name in names:
        if names.count(name) > 1:
            raise ManifestError(f'task "{task.name}": two steps are named "{name}"; names must be unique')
    return containers


# --- objects --------------------------------------------------------------------------------------


def _metadata(task: TaskPlan, ctx: RunContext, pipeline: str, attempt: int) -> Manifest:
    if not _DNS_LABEL.fullmatch(ctx.namespace) or len(ctx.namespace) > 63:
        raise ManifestError(f'namespace "{ctx.namespace}" is not a valid Kubernetes namespace name')
    labels = {"app.kubernetes.io/managed-by": "wishstar",
              f"{LABEL_PREFIX}run": label_value(ctx.run_id),
              f"{LABEL_PREFIX}pipeline": label_value(pipeline),
              f"{LABEL_PREFIX}task": label_value(task.name),
              f"{LABEL_PREFIX}attempt": str(attempt)}
    annotations = {f"{LABEL_PREFIX}run": ctx.run_id, f"{LABEL_PREFIX}pipeline": pipeline,
                   f"{LABEL_PREFIX}task": task.name, f"{LABEL_PREFIX}build-number": str(ctx.number)}
    if ctx.project:
        labels[f"{LABEL_PREFIX}project"] = label_value(ctx.project)
        annotations[f"{LABEL_PREFIX}project"] = ctx.project
    return {"name": object_name(pipeline, ctx.number, task.name, attempt), "namespace": ctx.namespace,
            "labels": labels, "annotations": annotations}


def _extra_metadata(metadata: Manifest, settings: PodSettings) -> None:
    """The task's own labels and annotations after Wishstar's, which they never replace."""
    for key, extra in (("labels", settings.labels), ("annotations", settings.annotations)):
        own = metadata[key]
        metadata[key] = {**own, **{k: v for k, v in extra.items() if k not in own}}


def _placement(settings: PodSettings) -> Manifest:
    """The Pod-level fields of ``kubernetes:`` (service account, placement, security, pull secrets)."""
    spec: Manifest = {}
    if settings.service_account is not None:
        spec["serviceAccountName"] = settings.service_account
    if settings.priority_class_name is not None:
        spec["priorityClassName"] = settings.priority_class_name
    if settings.node_selector:
        spec["nodeSelector"] = dict(settings.node_selector)
    if settings.tolerations:
        spec["tolerations"] = [_toleration(t) for t in settings.tolerations]
    if settings.security_context:
        spec["securityContext"] = copy.deepcopy(dict(settings.security_context))
    if settings.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in settings.image_pull_secrets]
    return spec


def _toleration(t: Toleration) -> Manifest:
    fields = (("key", t.key), ("operator", t.operator), ("value", t.value), ("effect", t.effect),
              ("tolerationSeconds", t.toleration_seconds))
    return {name: value for name, value in fields if value is not None}


def _task_parts(make: Callable[[], _T], task: TaskPlan) -> _T:
    """``make()``, with a Kubernetes-only part of the task that cannot go into the Pod as a ``ManifestError``."""
    try:
        return make()
    except TaskPartError as exc:
        raise ManifestError(f'task "{task.name}", {exc}') from None


def _volumes(task: TaskPlan, ctx: RunContext, name: str) -> list[Manifest]:
    volumes: list[Manifest] = [
        {"name": SCRIPTS_VOLUME, "configMap": {"name": name, "defaultMode": SCRIPTS_MODE}},
        {"name": RUN_VOLUME, "emptyDir": {}},
        {"name": RESULTS_VOLUME, "emptyDir": {}},
    ]
    seen: set[str] = set()
    for binding in task.workspaces:
        if binding.pipeline_workspace in seen:
            continue
        seen.add(binding.pipeline_workspace)
        volume = workspace_volume(binding.pipeline_workspace)
        if binding.pipeline_workspace in task.local_workspaces:  # a merged chain's own: no claim needed
            volumes.append({"name": volume, "emptyDir": {}})
            continue
        claim = {"claimName": claim_name(ctx.run_id, binding.pipeline_workspace)}
        volumes.append({"name": volume, "persistentVolumeClaim": claim})
    return volumes + _task_parts(lambda: task_volumes(task, [v["name"] for v in volumes]), task)


def config_map_manifest(task: TaskPlan, plan_workspaces: tuple[str, ...], ctx: RunContext, *, pipeline: str,
                        entrypoint: str, attempt: int = 1, runtime: RuntimeValues | None = None) -> Manifest:
    """The ConfigMap holding the entrypoint (its text, ``wishstar.steps.entrypoint()``, comes from the caller)
    and every step's script, references filled in. Immutable: each attempt gets its own."""
    layout = _layout(task, plan_workspaces, ctx, attempt, runtime)
    data = {ENTRYPOINT_KEY: entrypoint}
    for index, step in enumerate(task.steps):
        if step.script is not None:
            data[script_key(index)] = layout.fill(step.script)
    data.update(sidecar_scripts(task, layout.fill))
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _metadata(task, ctx, pipeline, attempt),
            "immutable": True, "data": data}


def pod_manifest(task: TaskPlan, plan_workspaces: tuple[str, ...], ctx: RunContext, *, pipeline: str,
                 attempt: int = 1, runtime: RuntimeValues | None = None) -> Manifest:
    """The Pod: one container per step, in order, each behind the entrypoint; restartPolicy Never (retries are
    new Pods, decided by the scheduler); the task's time limit as activeDeadlineSeconds; the task's
    ``kubernetes:`` settings (placement, security, resources, extra labels and annotations)."""
    layout = _layout(task, plan_workspaces, ctx, attempt, runtime)
    metadata = _metadata(task, ctx, pipeline, attempt)
    _extra_metadata(metadata, task.kubernetes)
    spec: Manifest = {"restartPolicy": "Never"}
    if task.timeout_s is not None:
        spec["activeDeadlineSeconds"] = max(1, math.ceil(task.timeout_s))
    spec.update(_placement(task.kubernetes))
    if task.sidecars:
        spec["initContainers"] = _task_parts(lambda: sidecar_containers(
            task, ctx.default_image, layout.mounts, layout.fill, lambda n: dns_label(f"sidecar-{n}")), task)
    spec["containers"] = _task_parts(lambda: _containers(task, ctx, pipeline, layout), task)
    spec["volumes"] = _volumes(task, ctx, metadata["name"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def task_manifests(task: TaskPlan, plan_workspaces: tuple[str, ...], ctx: RunContext, *, pipeline: str,
                   entrypoint: str, attempt: int = 1, runtime: RuntimeValues | None = None) -> list[Manifest]:
    """``[ConfigMap, Pod]`` for one attempt of one task instance, in the order they must be created. The one
    function behind both ``wishstar plan`` (``runtime`` None) and the objects the Kubernetes executor creates
    (the attempt's ``ResolvedTask.runtime``)."""
    return [config_map_manifest(task, plan_workspaces, ctx, pipeline=pipeline, entrypoint=entrypoint,
                                attempt=attempt, runtime=runtime),
            pod_manifest(task, plan_workspaces, ctx, pipeline=pipeline, attempt=attempt, runtime=runtime)]
