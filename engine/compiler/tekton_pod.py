"""The parts of a Tekton task that only Kubernetes honours, as the fields of its Pod: the steps' own container
fields, the task's volumes, and its sidecars.

Why it exists: a catalog task that mounts a volume, needs a security context, reads a ConfigMap into its
environment or talks to a sidecar (Docker-in-Docker, a database) must get them in its Pod, or it compiles to a
valid Pod that cannot do its job. ``engine.compiler.library`` keeps these fields as written (parameters
substituted), ``engine.compiler.pods`` asks this module to place them next to Wishstar's own mounts and
variables, which they never replace:

* a step's ``volumeMounts``, ``securityContext``, ``envFrom``, ``resources``, ``imagePullPolicy``, ``ports`` and its
  ConfigMap or field-sourced ``env`` go into its container (the pipeline's ``kubernetes:`` security context
  and resources win over the task's, key by key);
* ``spec.volumes`` become Pod volumes, and every mount must name one of them;
* sidecars become Kubernetes native sidecars (``initContainers`` with ``restartPolicy: Always``, Kubernetes
  1.29 and later): they start before the steps and are stopped once the steps end, so the Pod completes as
  a Tekton TaskRun does. A sidecar ``script`` travels in the task's ConfigMap like a step's.

What it must not do: touch the outside world, or let a task's volume or mount take a name or a path Wishstar's
own mounts use (that is a ``ManifestError`` naming the task and the field).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from wishstar.engine.compiler.entrypoint import SCRIPTS_DIR
from wishstar.engine.compiler.types import SidecarPlan, StepPlan, TaskPlan

Manifest = dict[str, Any]
Fill = Callable[[str], str]


class TaskPartError(ValueError):
    """A Kubernetes-only part of a task that cannot go into its Pod (``pods`` reports it as a ManifestError)."""


def sidecar_script_key(index: int) -> str:
    """The ConfigMap key (and file name under the scripts mount) of sidecar ``index``'s script."""
    return f"sidecar-{index}"


def _filled(value: Any, fill: Fill) -> Any:
    if isinstance(value, str):
        return fill(value)
    if isinstance(value, list):
        return [_filled(v, fill) for v in value]
    if isinstance(value, dict):
        return {k: _filled(v, fill) for k, v in value.items()}
    return value


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        old = out.get(key)
        out[key] = _merged(old, value) if isinstance(old, dict) and isinstance(value, dict) else copy.deepcopy(value)
    return out


def _mounts(owner: str, fields: Mapping[str, Any], task: TaskPlan, taken: Sequence[Manifest]) -> list[Manifest]:
    volumes = {str(v.get("name")) for v in task.volumes}
    paths = {m["mountPath"]: m["name"] for m in taken}
    out: list[Manifest] = []
    for mount in fields.get("volumeMounts", ()):
        name, path = mount.get("name"), mount.get("mountPath")
        if name not in volumes:
            known = ", ".join(sorted(volumes)) or "none"
            raise TaskPartError(f'{owner}: volumeMount "{name}" names no volume of the task (spec.volumes: {known})')
        if path in paths:
            raise TaskPartError(f'{owner}: volumeMount "{name}" at {path} takes the place of Wishstar\'s '
                                f'"{paths[path]}" mount; mount it elsewhere')
        out.append(dict(mount))
    return out


def add_container_fields(container: Manifest, step: StepPlan, task: TaskPlan, fill: Fill) -> None:
    """Place a library step's own Kubernetes fields into its ``container`` (already holding Wishstar's)."""
    fields = _filled(dict(step.container), fill)
    if not fields:
        return
    owner = f'step "{step.name}"'
    container["volumeMounts"] = [*container["volumeMounts"], *_mounts(owner, fields, task, container["volumeMounts"])]
    env = {e["name"]: e for e in container["env"]}
    env.update({e["name"]: e for e in fields.get("env", ())})
    container["env"] = list(env.values())
    if "envFrom" in fields:
        container["envFrom"] = fields["envFrom"]
    if "resources" in fields and "resources" not in container:
        container["resources"] = fields["resources"]
    if "securityContext" in fields:
        container["securityContext"] = _merged(fields["securityContext"], container.get("securityContext", {}))
    for key in ("imagePullPolicy", "ports"):
        if key in fields:
            container[key] = fields[key]


def task_volumes(task: TaskPlan, reserved: Sequence[str]) -> list[Manifest]:
    """The task's own volumes (``spec.volumes``); a name Wishstar's volumes use is refused."""
    out: list[Manifest] = []
    for volume in task.volumes:
        if volume.get("name") in reserved:
            raise TaskPartError(f'volume "{volume.get("name")}" has the name of one of Wishstar\'s own volumes '
                                f"({', '.join(reserved)}); rename it")
        out.append(copy.deepcopy(dict(volume)))
    return out


def sidecar_scripts(task: TaskPlan, fill: Fill) -> dict[str, str]:
    """ConfigMap entries for the sidecars' scripts."""
    return {sidecar_script_key(i): fill(s.script) for i, s in enumerate(task.sidecars) if s.script is not None}


def sidecar_containers(task: TaskPlan, default_image: str, mounts: Sequence[Manifest], fill: Fill,
                       name_of: Callable[[str], str]) -> list[Manifest]:
    """The task's sidecars as native sidecars (``initContainers`` that keep running beside the steps)."""
    return [_sidecar(i, s, task, default_image, mounts, fill, name_of) for i, s in enumerate(task.sidecars)]


def _sidecar(index: int, sidecar: SidecarPlan, task: TaskPlan, default_image: str, mounts: Sequence[Manifest],
             fill: Fill, name_of: Callable[[str], str]) -> Manifest:
    fields = _filled(dict(sidecar.container), fill)
    container: Manifest = {"name": name_of(sidecar.name), "image": sidecar.image or task.image or default_image,
                           "restartPolicy": "Always"}
    if sidecar.script is not None:
        container["command"] = [f"{SCRIPTS_DIR}/{sidecar_script_key(index)}"]
    elif sidecar.command:
        container["command"] = [fill(c) for c in sidecar.command]
    if sidecar.args and sidecar.script is None:
        container["args"] = [fill(a) for a in sidecar.args]
    for key in ("workingDir", "env", "envFrom", "resources", "securityContext", "imagePullPolicy", "ports"):
        if key in fields:
            container[key] = fields[key]
    own = _mounts(f'sidecar "{sidecar.name}"', fields, task, mounts)
    container["volumeMounts"] = [*(dict(m) for m in mounts), *own]
    return container
