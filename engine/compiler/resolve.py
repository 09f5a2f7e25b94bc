"""Fill a task's run-time references when it starts: results of earlier tasks, statuses, paths, secrets.

Pure: everything arrives as arguments (paths come from the executor, results and statuses from the run state,
secret values from the runner). Git event values are never substituted into text; they are only environment
variables (``WISHSTAR_GIT_*``), which is what keeps hostile branch names away from shells.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from wishstar.engine.compiler.types import EnvVar, ResolvedStep, ResolvedTask, StepPlan, TaskPlan
from wishstar.engine.spec.errors import WishstarError
from wishstar.engine.spec.subst import Ref, substitute


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


def _lookup(task: TaskPlan, view: RuntimeView, results_dir: str, workspaces: Mapping[str, str], attempt: int):  # type: ignore[no-untyped-def]
    def lookup(ref: Ref) -> str | None:
        p = ref.parts
        if p == ("tasks", "status"):
            return view.aggregate_status
        if p[0] == "tasks" and len(p) == 3 and p[2] == "status":
            return view.statuses.get(p[1], "none")
        if p[0] == "tasks" and len(p) == 4 and p[2] == "results":
            return view.results.get(p[1], {}).get(p[3])
        if p[0] == "results" and len(p) == 3 and p[2] == "path":
            return f"{results_dir}/{p[1]}"
        if p[0] == "workspaces" and len(p) == 3:
            path = workspaces.get(p[1])
            if p[2] == "bound":
                return "true" if path else "false"
            return path if p[2] == "path" else None
        if p == ("context", "task", "attempt"):
            return str(attempt)
        if p in (("context", "taskRun", "name"), ("context", "task", "name")):
            return task.name
        if p == ("context", "taskRun", "namespace"):
            return "local"
        return None

    return lookup


def _env(env: tuple[EnvVar, ...], view: RuntimeView, lookup, where: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
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


def _step(step: StepPlan, task: TaskPlan, view: RuntimeView, lookup, cwd: str) -> ResolvedStep:  # type: ignore[no-untyped-def]
    env = dict(view.base_env)
    env.update(_env(step.env, view, lookup, f"task {task.name}, step {step.name}"))
    workdir = substitute(step.working_dir, lookup) if step.working_dir else cwd
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


def resolve_task(task: TaskPlan, view: RuntimeView, *, attempt: int, results_dir: str,
                 workspace_paths: Mapping[str, str], default_cwd: str) -> ResolvedTask:
    """The attempt as the executor runs it. ``workspace_paths`` maps pipeline workspaces to paths."""
    bound = {b.name: workspace_paths[b.pipeline_workspace] for b in task.workspaces
             if b.pipeline_workspace in workspace_paths}
    lookup = _lookup(task, view, results_dir, bound, attempt)
    cwd = default_cwd
    if task.working_dir:
        cwd = substitute(task.working_dir, lookup)
    else:
        explicit = [b.name for b in task.workspaces if not b.implicit and b.name in bound]
        if explicit and not task.uses:
            cwd = bound[explicit[0]]
    steps = tuple(_step(s, task, view, lookup, cwd) for s in task.steps)
    return ResolvedTask(run_id=view.run_id, name=task.name, attempt=attempt, steps=steps, results=task.results,
                        results_dir=results_dir, workspaces=task.workspaces, timeout_s=task.timeout_s,
                        image=task.image)
