"""Fill a task's run-time references when it starts: results of earlier tasks, statuses, paths, secrets.

The one resolution of run-time ``$(...)`` references: ``reference_lookup`` answers them for the local runner
(``resolve_task``) and for the Kubernetes manifests (``engine.compiler.pods``), which is what makes the objects
``wishstar plan`` prints the objects the executor creates. Pure: everything arrives as arguments (paths come
from the executor, results and statuses from the run state, secret values from the runner). Git event values
are never substituted into text; they are only environment variables (``WISHSTAR_GIT_*``), which is what keeps
hostile branch names away from shells.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from wishstar.engine.compiler.types import (
    AttemptPaths,
    EnvVar,
    ResolvedStep,
    ResolvedTask,
    RuntimeValues,
    StepPlan,
    TaskPlan,
)
from wishstar.engine.spec.errors import WishstarError
from wishstar.engine.spec.subst import Lookup, Ref, substitute


class MissingSecret(WishstarError):
    """A step's env names a secret the run was not given."""


@dataclass(frozen=True)
class RuntimeView:
    """What the run knows when a task starts."""

    run_id: str
    results: Mapping[str, Mapping[str, str]]
    statuses: Mapping[str, str]
    aggregate_status: str
    secrets: Mapping[str, str]
    base_env: Mapping[str, str]
    provided: frozenset[str] = frozenset()
    """Secrets the executor supplies itself (Kubernetes Secrets, read by the Pod through ``secretKeyRef``):
    their variables are left out of the resolved env, so their values never pass through the runner."""


def reference_lookup(task: TaskPlan, paths: AttemptPaths, *, attempt: int,
                     runtime: RuntimeValues | None) -> Lookup:
    """The one answer to every run-time ``$(...)`` reference of ``task``, for the local runner and for the Pod
    manifests alike (``engine.compiler.pods``). ``runtime`` None (``wishstar plan``): results of other tasks
    and statuses stay as written; everything else (paths, claims, attempt, names, namespace) is filled."""

    def lookup(ref: Ref) -> str | None:
        p = ref.parts
        if p[0] == "tasks" and runtime is not None:
            if p == ("tasks", "status"):
                return runtime.aggregate_status
            if len(p) == 3 and p[2] == "status":
                return runtime.statuses.get(p[1], "none")
            if len(p) == 4 and p[2] == "results":
                return runtime.results.get(p[1], {}).get(p[3])
        if p[0] == "results" and len(p) == 3 and p[2] == "path":
            return f"{paths.results_dir}/{p[1]}"
        if p[0] == "workspaces" and len(p) == 3:
            return _workspace(paths, p[1], p[2])
        if p == ("context", "task", "attempt"):
            return str(attempt)
        if p in (("context", "taskRun", "name"), ("context", "task", "name")):
            return task.name
        if p == ("context", "taskRun", "namespace"):
            return paths.namespace
        return None

    return lookup


def _workspace(paths: AttemptPaths, name: str, attr: str) -> str | None:
    path = paths.workspaces.get(name)
    if attr == "bound":
        return "true" if path else "false"
    if attr == "path":
        return path
    return paths.claims.get(name) if attr == "claim" else None


def _env(env: tuple[EnvVar, ...], view: RuntimeView, lookup: Lookup, where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for var in env:
        if var.secret is not None:
            if var.secret in view.provided and var.secret not in view.secrets:
                continue
            if var.secret not in view.secrets:
                raise MissingSecret(
                    f'{where}: env {var.name} needs secret "{var.secret}", which this run was not given '
                    f"(hint: --secret {var.secret}=ENVVAR or --secrets-file FILE)")
            out[var.name] = view.secrets[var.secret]
        else:
            out[var.name] = substitute(var.value or "", lookup)
    return out


def _step(step: StepPlan, task: TaskPlan, view: RuntimeView, lookup: Lookup, cwd: str) -> ResolvedStep:
    env = dict(view.base_env)
    env.update(_env(step.env, view, lookup, f"task {task.name}, step {step.name}"))
    workdir = posixpath.join(cwd, substitute(step.working_dir, lookup)) if step.working_dir else cwd
    return ResolvedStep(
        name=step.name, image=step.image or task.image,
        script=substitute(step.script, lookup) if step.script is not None else None,
        command=tuple(substitute(c, lookup) for c in step.command) if step.command else None,
        args=tuple(substitute(a, lookup) for a in step.args),
        env=env, working_dir=workdir, timeout_s=step.timeout_s, on_error=step.on_error,
    )


def secret_refs(tasks: Iterable[TaskPlan]) -> dict[str, frozenset[str]]:
    """Secret name -> the keys the steps of ``tasks`` read from it (``EnvVar.key``)."""
    out: dict[str, set[str]] = {}
    for task in tasks:
        for step in task.steps:
            for var in step.env:
                if var.secret is not None:
                    out.setdefault(var.secret, set()).add(var.key)
    return {name: frozenset(keys) for name, keys in out.items()}


def resolve_task(task: TaskPlan, view: RuntimeView, *, attempt: int, paths: AttemptPaths,
                 default_cwd: str) -> ResolvedTask:
    """The attempt as the executor runs it; ``paths`` come from ``Executor.reference_paths``."""
    runtime = RuntimeValues(results=view.results, statuses=view.statuses, aggregate_status=view.aggregate_status)
    lookup = reference_lookup(task, paths, attempt=attempt, runtime=runtime)
    cwd = default_cwd
    if task.working_dir:  # a relative workingDir is inside the working copy, never the engine's own cwd
        cwd = posixpath.join(default_cwd, substitute(task.working_dir, lookup))
    else:
        explicit = [b.name for b in task.workspaces if not b.implicit and b.name in paths.workspaces]
        if explicit and not task.uses:
            cwd = paths.workspaces[explicit[0]]
    steps = tuple(_step(s, task, view, lookup, cwd) for s in task.steps)
    return ResolvedTask(run_id=view.run_id, name=task.name, attempt=attempt, steps=steps, results=task.results,
                        results_dir=paths.results_dir, workspaces=task.workspaces, timeout_s=task.timeout_s,
                        image=task.image, runtime=runtime)
