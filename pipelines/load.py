"""Load, validate and compile a pipeline file together with the task library.

This is the one place that joins the pure spec/compiler (engine) with the library of Tekton tasks (tasks/);
the CLI and the server both come through here, so they accept and reject exactly the same files.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from wishstar.engine.compiler.build import attach_manifests, compile_pipeline
from wishstar.engine.compiler.images import ImageConfigs, ImageLookupFailed, lookup_message, with_image_configs
from wishstar.engine.compiler.names import namespace_problems
from wishstar.engine.compiler.placement import apply_placement
from wishstar.engine.compiler.pods import ManifestError, task_manifests
from wishstar.engine.compiler.types import Plan, RunContext, TaskPlan
from wishstar.engine.spec.errors import Problem, ValidationFailed, WishstarError
from wishstar.engine.spec.model import Pipeline
from wishstar.engine.spec.validate import validate_text
from wishstar.steps import entrypoint
from wishstar.tasks import Library

DEFAULT_FILE = ".wishstar.yaml"


GENERATED = ".wishstar.yaml (generated)"
"""The file name a run records when its pipeline was generated from detection (read again by detecting)."""


@dataclass(frozen=True)
class Loaded:
    pipeline: Pipeline
    file: str
    generated: str | None = None
    """When the project has no pipeline file: the generated text (``wishstar init`` writes the same)."""
    detected: str | None = None
    """When generated: one line saying what was detected, for the caller to show."""


def validate(text: str | bytes, file: str, library: Library) -> Loaded:
    """The validated pipeline; ``ValidationFailed`` lists every problem with its line."""
    pipeline, _ = validate_text(text, file, library.uses_info, library.names())
    return Loaded(pipeline, file)


def manifests_for(ctx: RunContext) -> Callable[[TaskPlan, Plan], Mapping[str, object]]:
    """Each task's objects for attempt 1 as the Kubernetes executor creates them for ``ctx`` (same function,
    same entrypoint, no run-time values yet)."""
    def build(task: TaskPlan, plan: Plan) -> Mapping[str, object]:
        return {"objects": task_manifests(task, plan.workspaces, ctx, pipeline=plan.pipeline,
                                          entrypoint=entrypoint())}

    return build


def compile_run(loaded: Loaded, ctx: RunContext, library: Library, *, manifests: bool = False,
                placement: bool = False, images: ImageConfigs | None = None) -> Plan:
    """The run's plan; ``placement`` (Kubernetes only) merges chains per the pipeline's ``placement:``, before
    ``manifests`` are attached. ``images`` looks up the ENTRYPOINT and CMD of steps that name only an image
    (``engine.executors.images.ImageLookup``); without it such steps keep no command. An image that cannot
    be looked up is an ``ImageLookupFailed``, or with ``manifests`` one more problem of its task."""
    plan = compile_pipeline(loaded.pipeline, ctx, library.expander(), file=loaded.file)
    lookup_problems: list[Problem] = []
    try:
        plan = with_image_configs(plan, images, ctx.default_image)
    except ImageLookupFailed as exc:
        if not manifests:
            raise
        lookup_problems = [_task_problem(plan.task(need.task), loaded.file, lookup_message(need, reason))
                           for need, reason in exc.failures]
    if placement:
        plan = apply_placement(plan)
    return with_manifests(plan, ctx, loaded.file, lookup_problems) if manifests else plan


def _task_problem(task: TaskPlan, file: str, message: str) -> Problem:
    return Problem(file, None, f"{'finally' if task.is_finally else 'tasks'}.{task.base}", message)


def with_manifests(plan: Plan, ctx: RunContext, file: str, known: Sequence[Problem] = ()) -> Plan:
    """The plan with every task's Kubernetes objects; ``ValidationFailed`` lists every task that cannot become a
    Pod, and a bad namespace, at once (each ``ManifestError`` stops only its own task). ``known``: problems
    already found (an image that could not be looked up), whose tasks are not compiled again."""
    problems = [*namespace_problems(ctx.namespace), *known]
    reported = {p.path for p in known}
    build = manifests_for(replace(ctx, namespace="default") if problems else ctx)
    built: dict[str, Mapping[str, object]] = {}
    for task in plan.all_tasks():
        if _task_problem(task, file, "").path in reported:
            continue
        try:
            built[task.name] = build(task, plan)
        except ManifestError as exc:
            problems.append(_task_problem(task, file, str(exc)))
    if problems:
        raise ValidationFailed(problems)
    return attach_manifests(plan, lambda task, _: built[task.name])


class NoPipelineFile(WishstarError):
    """The pipeline file named (or ``.wishstar.yaml``) is not a file in the project directory."""


def find_pipeline_file(project_dir: Path, file: str | None, *, shown: str | None = None) -> Path:
    """``--file`` relative to the project directory, else ``.wishstar.yaml`` there. ``NoPipelineFile`` when it is
    missing or a directory, naming it as given and the project as ``shown`` (a run's checkout is a temporary
    directory the user never named)."""
    name = file or DEFAULT_FILE
    path = project_dir / name
    where = shown or "the project"
    if path.is_dir():
        raise NoPipelineFile(f"{name}: a directory in {where}, not a pipeline file (hint: --file "
                             f"{posixpath.join(name, DEFAULT_FILE)})")
    if not path.exists():
        hint = "check the name" if file else f"create {DEFAULT_FILE} at the project root, or pass --file"
        raise NoPipelineFile(f"{name}: no pipeline file in {where} (hint: {hint})")
    return path
