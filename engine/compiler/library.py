"""Expand a library task (Tekton Task schema) with a pipeline task's ``with:`` values into step plans.

This is where Tekton's parameter semantics live: defaults, required params, enums and types are checked, the
step template is merged into each step, and ``$(params...)`` references are substituted, including array
params spread over several arguments. References only a run can answer (``$(results.x.path)``,
``$(workspaces.w.path)``, ``$(context.taskRun.name)``, ``$(steps...)``) are left verbatim for the runner.
Whatever the task asks for that a local process cannot give (sidecars, volumes, security contexts) is said in
``notes`` rather than silently dropped.

Pure: no file reads, no environment, no clock. Values are substituted in one pass and never re-scanned, so a
parameter value that contains ``$(...)`` stays literal text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wishstar.engine.compiler.build import UsesExpansion
from wishstar.engine.compiler.types import EnvVar, OnError, SidecarPlan, StepPlan
from wishstar.engine.spec import subst
from wishstar.engine.spec.errors import Path, Problem, ValidationFailed, did_you_mean, format_path
from wishstar.engine.spec.model import ParamValue
from wishstar.engine.spec.subst import Ref, substitute
from wishstar.engine.spec.tekton import (
    ContainerFields,
    EnvVarSpec,
    ParamSpec,
    Sidecar,
    Step,
    TektonTask,
    parse_go_duration,
)

LineOf = Callable[[Path], int | None]

DEFAULT_SHEBANG = "#!/bin/sh\nset -e\n"
"""Tekton runs a script without ``#!`` as ``sh -e``; so do we, so catalog scripts behave the same."""


@dataclass(frozen=True)
class TaskWorkspace:
    """A workspace the library task declares; the pipeline binds it to one of its own."""

    name: str
    optional: bool = False
    read_only: bool = False
    mount_path: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class LibraryExpansion:
    """A library task made concrete for one use: steps, results, workspaces and what cannot run locally."""

    task: str
    steps: tuple[StepPlan, ...]
    params: Mapping[str, ParamValue] = field(compare=False)
    results: tuple[str, ...] = ()
    workspaces: tuple[TaskWorkspace, ...] = ()
    notes: tuple[str, ...] = ()
    volumes: tuple[Mapping[str, Any], ...] = ()
    sidecars: tuple[SidecarPlan, ...] = ()


@dataclass(frozen=True)
class _Site:
    """Where the ``with:`` block sits in the user's file, for problems."""

    file: str
    at: Path
    line_of: LineOf | None

    def problem(self, sub: Path, message: str, hint: str | None = None) -> Problem:
        path = (*self.at, *sub)
        line = self.line_of(path) if self.line_of else None
        return Problem(self.file, line, format_path(path), message, hint)


# --- parameters -------------------------------------------------------------------------------------------


Issue = tuple[Path, str, str | None]
"""(path below the ``with:`` block, message, hint): a problem not yet placed in a file."""


def with_issues(task: TektonTask, with_: Mapping[str, ParamValue]) -> tuple[dict[str, ParamValue], list[Issue]]:
    """Every declared param's value (given, else default) and every issue with the given values."""
    declared = {p.name: p for p in task.spec.params}
    issues: list[Issue] = [((key,), f'task "{task.name}" has no param "{key}"',
                            did_you_mean(key, declared) or _known("its params", declared))
                           for key in with_ if key not in declared]
    values: dict[str, ParamValue] = {}
    for name, spec in declared.items():
        given = with_.get(name)
        if given is None and spec.default is None:
            issues.append(((), f'missing required param "{name}" of task "{task.name}"',
                           f"add `{name}: ...` under with" + _described(spec)))
            continue
        value = _with_default(spec, given)
        problem = _type_problem(spec, value)
        if problem is not None:
            issues.append(((name,), *problem))
            continue
        values[name] = value
    return values, issues


def bind_task_params(task: TektonTask, with_: Mapping[str, ParamValue], *, file: str = "<pipeline>",
                   at: Path = ("with",), line_of: LineOf | None = None,
                   ) -> tuple[dict[str, ParamValue], list[Problem]]:
    """Like ``with_issues``, with each issue placed at ``at`` in ``file`` (``line_of`` finds its line)."""
    site = _Site(file, at, line_of)
    values, issues = with_issues(task, with_)
    return values, [site.problem(*issue) for issue in issues]


def check_with(task: TektonTask, with_: Mapping[str, ParamValue], *, file: str = "<pipeline>",
               at: Path = ("with",), line_of: LineOf | None = None) -> list[Problem]:
    """The problems of using ``task`` with ``with_`` (unknown keys, missing params, wrong types, enums)."""
    return bind_task_params(task, with_, file=file, at=at, line_of=line_of)[1]


def _known(what: str, names: Mapping[str, object]) -> str:
    return f"{what}: {', '.join(sorted(names))}" if names else f"{what}: none"


def _described(spec: ParamSpec) -> str:
    return f" ({spec.description.strip().splitlines()[0]})" if spec.description and spec.description.strip() \
        else ""


def _with_default(spec: ParamSpec, given: ParamValue | None) -> ParamValue:
    if given is None:
        assert spec.default is not None
        return spec.default
    if isinstance(given, dict) and isinstance(spec.default, dict):
        return {**spec.default, **given}
    return given


_TYPE_WORDS = {"string": "a string", "array": "a list of strings", "object": "a map of strings"}


def _type_of(value: ParamValue) -> str:
    return "array" if isinstance(value, list) else "object" if isinstance(value, dict) else "string"


def _type_problem(spec: ParamSpec, value: ParamValue) -> tuple[str, str | None] | None:
    kind = spec.kind
    if _type_of(value) != kind:
        return (f'param "{spec.name}" is {_TYPE_WORDS[kind]}, not {_TYPE_WORDS[_type_of(value)]}',
                "write a list: [a, b]" if kind == "array" else None)
    if isinstance(value, str) and spec.enum and value not in spec.enum and "$(" not in value:
        return (f'"{value}" is not an allowed value of param "{spec.name}"',
                did_you_mean(value, spec.enum) or "allowed: " + ", ".join(spec.enum))
    if isinstance(value, dict) and spec.properties:
        return _object_problem(spec.name, spec.properties, value)
    return None


def _object_problem(name: str, properties: Mapping[str, object],
                    value: Mapping[str, str]) -> tuple[str, str | None] | None:
    unknown = sorted(set(value) - set(properties))
    if unknown:
        return (f'param "{name}" has no key "{unknown[0]}"',
                did_you_mean(unknown[0], properties) or _known("its keys", properties))
    missing = sorted(set(properties) - set(value))
    if missing:
        return f'param "{name}" lacks key(s) {", ".join(missing)}', "give every key of the object"
    return None


# --- substitution (engine.spec.subst; a whole array or object inside a string stays verbatim, as in Tekton) --


def _argv(items: Sequence[str], values: Mapping[str, ParamValue]) -> tuple[str, ...]:
    """A whole-item ``$(params.arr[*])`` (or the older ``$(params.arr)``) becomes one item per element."""
    return subst.expand_argv(items, values, subst.param_lookup(values), bare=True)


# --- steps ------------------------------------------------------------------------------------------------


def _merged_env(template: ContainerFields | None, step: ContainerFields) -> list[EnvVarSpec]:
    merged = {e.name: e for e in (template.env if template else [])}
    merged.update({e.name: e for e in step.env})
    return list(merged.values())


def _env(step_name: str, env: list[EnvVarSpec], lookup: Callable[[Ref], str | None],
         notes: list[str]) -> tuple[tuple[EnvVar, ...], list[dict[str, Any]]]:
    """The variables a step gets everywhere, and (as Kubernetes env entries) those only Kubernetes fills."""
    out: list[EnvVar] = []
    kubernetes_only: list[dict[str, Any]] = []
    for var in env:
        source = var.value_from
        if source is None:
            out.append(EnvVar(var.name, value=substitute(var.value or "", lookup)))
        elif source.secret_key_ref is not None:
            ref = source.secret_key_ref
            out.append(EnvVar(var.name, secret=substitute(ref.name or "", lookup),
                              secret_key=substitute(ref.key, lookup)))
        else:
            origin = "a ConfigMap" if source.config_map_key_ref is not None else "the Pod's fields"
            notes.append(f'step "{step_name}": env {var.name} comes from {origin}, which only Kubernetes '
                         "provides; it is unset when run locally")
            value_from = source.model_dump(by_alias=True, exclude_none=True)
            kubernetes_only.append({"name": var.name, "valueFrom": substitute_deep(value_from, lookup)})
    return tuple(out), kubernetes_only


def substitute_deep(value: Any, lookup: Callable[[Ref], str | None]) -> Any:
    """``value`` with references substituted in every string of it (lists and mappings walked)."""
    if isinstance(value, str):
        return substitute(value, lookup)
    if isinstance(value, list):
        return [substitute_deep(v, lookup) for v in value]
    if isinstance(value, dict):
        return {k: substitute_deep(v, lookup) for k, v in value.items()}
    return value


_CONTAINER_FIELDS = (("security_context", "securityContext"), ("env_from", "envFrom"),
                     ("compute_resources", "resources"), ("image_pull_policy", "imagePullPolicy"))
_PASSED_EXTRAS = ("ports",)
"""Unmodelled container fields a step's container keeps (probes, lifecycle hooks and tty make no sense for a
step that runs once behind the entrypoint)."""


def _container_fields(own: ContainerFields, template: ContainerFields | None,
                      lookup: Callable[[Ref], str | None], env: list[dict[str, Any]]) -> dict[str, Any]:
    """The Kubernetes-only fields of a step (or sidecar) as its container gets them: the step's own, else the
    template's; ``volumeMounts`` merged by mount path (the step's win), as Tekton merges them."""
    out: dict[str, Any] = {}
    mounts = {m.get("mountPath"): m for m in (template.volume_mounts if template else [])}
    mounts.update({m.get("mountPath"): m for m in own.volume_mounts})
    if mounts:
        out["volumeMounts"] = list(mounts.values())
    for attr, key in _CONTAINER_FIELDS:
        value = getattr(own, attr) or (getattr(template, attr) if template else None)
        if value:
            out[key] = value
    extras = {**((template.model_extra or {}) if template else {}), **(own.model_extra or {})}
    out.update({key: extras[key] for key in _PASSED_EXTRAS if key in extras})
    if env:
        out["env"] = env
    return dict(substitute_deep(out, lookup))


def _script(text: str | None, lookup: Callable[[Ref], str | None]) -> str | None:
    if text is None:
        return None
    body = substitute(text, lookup)
    return body if body.startswith("#!") else DEFAULT_SHEBANG + body


def _step_notes(name: str, step: Step, template: ContainerFields | None) -> list[str]:
    def pick(attr: str) -> object:
        own = getattr(step, attr)
        return own if own else getattr(template, attr, None)

    notes: list[str] = []
    if pick("security_context"):
        notes.append(f'step "{name}": securityContext applies on Kubernetes only; locally the step runs as '
                     "the current user with no extra privileges")
    mounts = pick("volume_mounts")
    if isinstance(mounts, list) and mounts:
        paths = ", ".join(str(m.get("mountPath", "?")) for m in mounts)
        notes.append(f'step "{name}": volumeMounts ({paths}) are Kubernetes-only; nothing is mounted there '
                     "locally")
    if pick("env_from"):
        notes.append(f'step "{name}": envFrom (whole Secrets or ConfigMaps as variables) is Kubernetes-only; '
                     "those variables are unset locally")
    return notes


def _timeout(name: str, raw: str | None, lookup: Callable[[Ref], str | None],
             site: _Site, index: int) -> tuple[float | None, list[Problem]]:
    if raw is None:
        return None, []
    text = substitute(raw, lookup)
    try:
        return parse_go_duration(text), []
    except ValueError as exc:
        return None, [site.problem((), f'step "{name}" (steps[{index}]) timeout: {exc}')]


def _plan_step(index: int, step: Step, task: TektonTask, values: Mapping[str, ParamValue], site: _Site,
               notes: list[str]) -> tuple[StepPlan, list[Problem]]:
    template = task.spec.step_template
    lookup = subst.param_lookup(values)
    name = step.name or f"unnamed-{index}"
    command = step.command if step.command is not None else (template.command if template else None)
    args = step.args if step.args is not None else (template.args if template else None)
    image = step.image or (template.image if template else None)
    working_dir = step.working_dir or (template.working_dir if template else None)
    timeout_s, problems = _timeout(name, step.timeout, lookup, site, index)
    notes.extend(_step_notes(name, step, template))
    env, kubernetes_env = _env(name, _merged_env(template, step), lookup, notes)
    on_error: OnError = step.on_error or "stopAndFail"
    plan = StepPlan(
        name=name,
        image=substitute(image, lookup) if image else None,
        script=_script(step.script, lookup),
        command=_argv(command, values) if command is not None else None,
        args=_argv(args or [], values),
        env=env,
        working_dir=substitute(working_dir, lookup) if working_dir else None,
        timeout_s=timeout_s,
        on_error=on_error,
        container=_container_fields(step, template, lookup, kubernetes_env),
    )
    return plan, problems


def _sidecar(sidecar: Sidecar, lookup: Callable[[Ref], str | None], values: Mapping[str, ParamValue],
             notes: list[str]) -> SidecarPlan:
    env, kubernetes_env = _env(sidecar.name, list(sidecar.env), lookup, notes)
    plain = [{"name": e.name, "value": e.value or ""} if e.secret is None else
             {"name": e.name, "valueFrom": {"secretKeyRef": {"name": e.secret, "key": e.key}}} for e in env]
    container = _container_fields(sidecar, None, lookup, [*plain, *kubernetes_env])
    if sidecar.working_dir:
        container["workingDir"] = substitute(sidecar.working_dir, lookup)
    return SidecarPlan(name=sidecar.name, image=substitute(sidecar.image, lookup) if sidecar.image else None,
                       script=_script(sidecar.script, lookup),
                       command=_argv(sidecar.command, values) if sidecar.command is not None else None,
                       args=_argv(sidecar.args or [], values), container=container)


def _task_notes(task: TektonTask) -> list[str]:
    spec = task.spec
    notes = [f'sidecar "{s.name}" ({s.image or "no image"}) runs only on Kubernetes; locally it is not '
             "started, so steps that talk to it will fail" for s in spec.sidecars]
    if spec.volumes:
        names = ", ".join(str(v.get("name", "?")) for v in spec.volumes)
        notes.append(f"volumes ({names}) exist only on Kubernetes; the local executor does not create them")
    if spec.pipeline_resources:
        notes.append("PipelineResources (v1beta1 spec.resources) are not supported; $(resources...) "
                     "references stay unresolved")
    return notes


def expand_library_task(task: TektonTask, with_: Mapping[str, ParamValue], *, file: str = "<pipeline>",
                        at: Path = ("with",), line_of: LineOf | None = None) -> LibraryExpansion:
    """Check ``with_`` against the task's params and build its steps; ``ValidationFailed`` lists all problems.

    ``file``, ``at`` (the path of the ``with:`` block) and ``line_of`` say where problems point in the user's
    file; ``YamlDocument.line_of`` fits ``line_of``.
    """
    site = _Site(file, at, line_of)
    values, problems = bind_task_params(task, with_, file=file, at=at, line_of=line_of)
    if problems:
        raise ValidationFailed(problems)
    notes = _task_notes(task)
    steps: list[StepPlan] = []
    for index, step in enumerate(task.spec.steps):
        plan, step_problems = _plan_step(index, step, task, values, site, notes)
        steps.append(plan)
        problems.extend(step_problems)
    if problems:
        raise ValidationFailed(problems)
    workspaces = tuple(TaskWorkspace(w.name, w.optional, w.read_only, w.mount_path, w.description)
                       for w in task.spec.workspaces)
    lookup = subst.param_lookup(values)
    sidecars = tuple(_sidecar(s, lookup, values, []) for s in task.spec.sidecars)
    return LibraryExpansion(task=task.name, steps=tuple(steps), params=values,
                            results=tuple(r.name for r in task.spec.results), workspaces=workspaces,
                            notes=tuple(dict.fromkeys(notes)),
                            volumes=tuple(substitute_deep(v, lookup) for v in task.spec.volumes),
                            sidecars=sidecars)


def uses_expansion(expansion: LibraryExpansion) -> UsesExpansion:
    """What the compiler's ``Expander`` hook returns for a library task expanded for one use."""
    return UsesExpansion(steps=expansion.steps, results=expansion.results, notes=expansion.notes,
                         workspaces=tuple((w.name, w.optional, w.read_only, w.mount_path)
                                          for w in expansion.workspaces),
                         volumes=expansion.volumes, sidecars=expansion.sidecars)
