"""Build a ``Plan`` from a validated pipeline and a run context: matrix fan-out, parameters, library tasks, edges.

Pure. Compile-time references (``$(params.*)``, ``$(context.*)``) are filled here; run-time references stay for
``engine.compiler.resolve``. Library tasks are expanded through an ``Expander`` that the caller provides, so the
compiler does not care where the library lives.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from wishstar.engine.compiler.types import (
    EnvVar,
    Plan,
    PodSettings,
    ResultRef,
    RetryPlan,
    RunContext,
    SidecarPlan,
    StepPlan,
    TaskPlan,
    Toleration,
    WorkspaceBinding,
)
from wishstar.engine.dag import Graph
from wishstar.engine.spec.durations import parse_duration
from wishstar.engine.spec.errors import Problem, ValidationFailed, did_you_mean
from wishstar.engine.spec.model import EnvValue, ParamValue, Pipeline, Task
from wishstar.engine.spec.model import PodSettings as PodSettingsSpec
from wishstar.engine.spec.model import Step as StepSpec
from wishstar.engine.spec.subst import Ref, expand_argv, param_lookup, param_ref, substitute
from wishstar.engine.spec.validate import edges_of, result_refs


@dataclass(frozen=True)
class UsesExpansion:
    """A library task turned into steps for one set of ``with:`` values."""

    steps: tuple[StepPlan, ...]
    results: tuple[str, ...]
    workspaces: tuple[tuple[str, bool, bool, str | None], ...]
    """(name, optional, read_only, mount_path) per declared workspace."""
    notes: tuple[str, ...] = ()
    volumes: tuple[Mapping[str, Any], ...] = ()
    """The task's Kubernetes volumes (``spec.volumes``), parameters substituted."""
    sidecars: tuple[SidecarPlan, ...] = ()


Expander = Callable[[str, Mapping[str, ParamValue]], UsesExpansion]
"""(library task name, with values) -> expansion. Only called for validated pipelines."""


def resolve_params(pipeline: Pipeline, given: Mapping[str, ParamValue], file: str) -> dict[str, ParamValue]:
    """Defaults overlaid with given values; unknown, missing or off-enum parameters are reported together."""
    problems: list[Problem] = []
    for key in given:
        if key not in pipeline.params:
            problems.append(Problem(file, None, f"params.{key}",
                                    f"--param {key}: the pipeline declares no such parameter",
                                    did_you_mean(key, pipeline.params) or "see `params:` in the pipeline file"))
    values: dict[str, ParamValue] = {}
    for name, spec in pipeline.params.items():
        value = given.get(name, spec.default)
        if value is None:
            problems.append(Problem(file, None, f"params.{name}", "this parameter has no default",
                                    f"pass --param {name}=VALUE"))
            continue
        if spec.enum and isinstance(value, str) and value not in spec.enum:
            problems.append(Problem(file, None, f"params.{name}", f'"{value}" is not one of {spec.enum}'))
        if spec.type == "array" and isinstance(value, str):
            value = [value]
        if spec.type == "object" and isinstance(value, str):
            problems.append(Problem(file, None, f"params.{name}", f"--param {name}: an object parameter takes a "
                                    "mapping, not one value", "set its keys under `default:` in the file"))
            continue
        values[name] = value
    if problems:
        raise ValidationFailed(problems)
    return values


def _param_text(value: ParamValue) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(value)
    return json.dumps(value, sort_keys=True)


def _lookup(params: Mapping[str, ParamValue], ctx: RunContext, pipeline: str, instance: str
            ) -> Callable[[Ref], str | None]:
    context: dict[tuple[str, ...], str] = {
        ("context", "run", "id"): ctx.run_id, ("context", "run", "number"): str(ctx.number),
        ("context", "pipeline", "name"): pipeline, ("context", "task", "name"): instance}
    answer_param = param_lookup(params, whole=_param_text)

    def lookup(ref: Ref) -> str | None:
        if param_ref(ref) is not None:
            return answer_param(ref)
        return context.get(tuple(ref.parts))

    return lookup


def _env(layers: list[Mapping[str, EnvValue]], lookup: Callable[[Ref], str | None]) -> tuple[EnvVar, ...]:
    merged: dict[str, EnvValue] = {}
    for layer in layers:
        merged.update(layer)
    out: list[EnvVar] = []
    for name, value in merged.items():
        if isinstance(value, str):
            out.append(EnvVar(name, value=substitute(value, lookup)))
        else:
            out.append(EnvVar(name, secret=value.secret, secret_key=value.secret_key))
    return tuple(out)


def _inline_steps(pipeline: Pipeline, task: Task, params: Mapping[str, ParamValue],
                  lookup: Callable[[Ref], str | None]) -> tuple[StepPlan, ...]:
    specs = task.steps if task.steps else [StepSpec(name="run", script=task.script)]
    steps: list[StepPlan] = []
    for i, spec in enumerate(specs):
        steps.append(StepPlan(
            name=spec.name or f"step-{i}",
            image=spec.image or task.image or pipeline.image,
            script=substitute(spec.script, lookup) if spec.script is not None else None,
            command=expand_argv(spec.command, params, lookup) if spec.command else None,
            args=expand_argv(spec.args, params, lookup),
            env=_env([pipeline.env, task.env, spec.env], lookup),
            working_dir=substitute(spec.working_dir, lookup) if spec.working_dir else None,
            timeout_s=parse_duration(spec.timeout) if spec.timeout else None,
            on_error=spec.on_error,
        ))
    return tuple(steps)


def _matrix(task: Task) -> list[tuple[tuple[str, str], ...]]:
    if not task.matrix:
        return [()]
    keys = list(task.matrix)
    return [tuple(zip(keys, combo, strict=True)) for combo in itertools.product(*task.matrix.values())]


def instance_name(base: str, combo: tuple[tuple[str, str], ...]) -> str:
    """``test`` or, for a matrix combination, ``test[3.11,linux]``."""
    return f"{base}[{','.join(v for _, v in combo)}]" if combo else base


def _workspaces_inline(pipeline: Pipeline, task: Task, steps: tuple[StepPlan, ...]) -> tuple[WorkspaceBinding, ...]:
    bound = dict(task.workspaces)
    texts = [s.script or "" for s in steps] + [a for s in steps for a in (*(s.command or ()), *s.args)]
    texts += [e.value or "" for s in steps for e in s.env] + [s.working_dir or "" for s in steps]
    for ws in pipeline.workspaces:
        if ws not in bound and any(f"$(workspaces.{ws}." in t for t in texts):
            bound[ws] = ws
    return tuple(WorkspaceBinding(k, v, implicit=k not in task.workspaces) for k, v in bound.items())


def _workspaces_uses(pipeline: Pipeline, task: Task, exp: UsesExpansion) -> tuple[WorkspaceBinding, ...]:
    out: list[WorkspaceBinding] = []
    for name, _optional, read_only, mount in exp.workspaces:
        target = task.workspaces.get(name)
        if target is None and name in pipeline.workspaces:
            target = name
        if target is None and len(pipeline.workspaces) == 1:
            target = pipeline.workspaces[0]
        if target is not None:
            out.append(WorkspaceBinding(name, target, mount, read_only))
    return tuple(out)


def _retry(task: Task) -> RetryPlan:
    r = task.retries
    return RetryPlan(r.limit, parse_duration(r.backoff), r.factor, parse_duration(r.max_backoff))


def _settings_dict(settings: PodSettingsSpec | None) -> dict[str, Any]:
    return {} if settings is None else settings.model_dump(by_alias=True, exclude_unset=True, exclude_none=True)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` wins key by key; mappings merge the same way, lists and scalars replace."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        out[key] = _merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return out


def pod_settings(pipeline: Pipeline, task: Task) -> PodSettings:
    """The task's ``kubernetes:`` over the pipeline's, in Kubernetes' own field names."""
    merged = _merge(_settings_dict(pipeline.kubernetes), _settings_dict(task.kubernetes))
    resources = merged.get("resources", {})
    return PodSettings(
        service_account=merged.get("serviceAccount"),
        node_selector=merged.get("nodeSelector", {}),
        tolerations=tuple(Toleration(key=t.get("key"), operator=t.get("operator", "Equal"), value=t.get("value"),
                                     effect=t.get("effect"), toleration_seconds=t.get("tolerationSeconds"))
                          for t in merged.get("tolerations", ())),
        requests=resources.get("requests", {}),
        limits=resources.get("limits", {}),
        security_context=merged.get("securityContext", {}),
        container_security_context=merged.get("containerSecurityContext", {}),
        image_pull_secrets=tuple(merged.get("imagePullSecrets", ())),
        priority_class_name=merged.get("priorityClassName"),
        labels=merged.get("labels", {}),
        annotations=merged.get("annotations", {}),
    )


def _task_instances(pipeline: Pipeline, name: str, task: Task, is_finally: bool,
                    params: Mapping[str, ParamValue], ctx: RunContext, expand: Expander) -> list[TaskPlan]:
    out: list[TaskPlan] = []
    refs = tuple(ResultRef(t, r) for t, r in dict.fromkeys(result_refs(task)))
    kubernetes = pod_settings(pipeline, task)
    for combo in _matrix(task):
        inst = instance_name(name, combo)
        local = {**params, **dict(combo)}
        lookup = _lookup(local, ctx, pipeline.name, inst)
        notes: tuple[str, ...] = ()
        volumes: tuple[Mapping[str, Any], ...] = ()
        sidecars: tuple[SidecarPlan, ...] = ()
        if task.uses:
            with_ = {k: (substitute(v, lookup) if isinstance(v, str) else v) for k, v in task.with_.items()}
            exp = expand(task.uses, {**with_, **dict(combo)})
            env_extra = _env([pipeline.env, task.env], lookup)
            steps = tuple(replace(s, env=(*env_extra, *s.env)) for s in exp.steps)
            results, workspaces, notes = exp.results, _workspaces_uses(pipeline, task, exp), exp.notes
            volumes, sidecars = exp.volumes, exp.sidecars
        else:
            steps = _inline_steps(pipeline, task, local, lookup)
            results = tuple(r.name for r in task.results)
            workspaces = _workspaces_inline(pipeline, task, steps)
        out.append(TaskPlan(
            name=inst, base=name, is_finally=is_finally, uses=task.uses,
            image=task.image or (None if task.uses else pipeline.image),
            steps=steps, needs=(), result_refs=refs, when=task.when, results=results, workspaces=workspaces,
            working_dir=substitute(task.working_dir, lookup) if task.working_dir else None,
            timeout_s=parse_duration(task.timeout) if task.timeout else None, retries=_retry(task),
            allow_failure=task.allow_failure, matrix=combo,
            params=tuple((k, _param_text(v)) for k, v in sorted(local.items())), notes=notes,
            kubernetes=kubernetes, volumes=volumes, sidecars=sidecars, interruptible=task.interruptible,
        ))
    return out


def compile_pipeline(pipeline: Pipeline, ctx: RunContext, expand: Expander, *, file: str = ".wishstar.yaml",
                     manifests: Callable[[TaskPlan, Plan], Mapping[str, object]] | None = None) -> Plan:
    """The plan for one run. ``manifests`` (optional) attaches each task's Kubernetes objects."""
    params = resolve_params(pipeline, ctx.params, file)
    instances: dict[str, list[TaskPlan]] = {}
    for section, tasks in ((False, pipeline.tasks), (True, pipeline.finally_)):
        for name, task in tasks.items():
            instances[name] = _task_instances(pipeline, name, task, section, params, ctx, expand)
    base_edges = edges_of(pipeline)
    edges: dict[tuple[str, str], list[str]] = {}
    for (src, dst), reasons in base_edges.items():
        for a in instances[src]:
            for b in instances[dst]:
                edges[(a.name, b.name)] = reasons
    regular = [t.name for name in pipeline.tasks for t in instances[name]]
    graph = Graph(regular, edges)
    needs: dict[str, list[str]] = {}
    for src, dst in graph.edges():
        needs.setdefault(dst, []).append(src)
    by_name = {t.name: t for ts in instances.values() for t in ts}
    ordered = {n: replace(by_name[n], needs=tuple(sorted(needs.get(n, [])))) for n in graph.order}
    finals = {t.name: t for name in pipeline.finally_ for t in instances[name]}
    from wishstar.engine.compiler.types import Edge

    plan = Plan(
        pipeline=pipeline.name, tasks=ordered, finally_tasks=finals,
        edges=tuple(Edge(s, d, graph.reasons(s, d)) for s, d in graph.edges()),
        layers=tuple(tuple(layer) for layer in graph.layers()),
        params=params, workspaces=tuple(pipeline.workspaces),
        timeout_s=parse_duration(pipeline.timeout) if pipeline.timeout else None,
        concurrency=pipeline.concurrency, on_failure=pipeline.on_failure, placement=pipeline.placement,
    )
    return plan if manifests is None else attach_manifests(plan, manifests)


def attach_manifests(plan: Plan, manifests: Callable[[TaskPlan, Plan], Mapping[str, object]]) -> Plan:
    """The plan with each task's Kubernetes objects attached (after ``apply_placement``, if any)."""
    with_pods = {n: replace(t, pod=manifests(t, plan)) for n, t in plan.tasks.items()}
    final_pods = {n: replace(t, pod=manifests(t, plan)) for n, t in plan.finally_tasks.items()}
    return replace(plan, tasks=with_pods, finally_tasks=final_pods)
