"""Load, validate and compile a pipeline file together with the task library.

This is the one place that joins the pure spec/compiler (engine) with the library of Tekton tasks (tasks/);
the CLI and the server both come through here, so they accept and reject exactly the same files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.compiler.build import UsesExpansion, compile_pipeline
from engine.compiler.library import expand_library_task, with_issues
from engine.compiler.types import Plan, RunContext, TaskPlan
from engine.spec.model import Pipeline, Task
from engine.spec.validate import UsesInfo, validate_text
from tasks import Library

DEFAULT_FILE = ".wishstar.yaml"


@dataclass(frozen=True)
class Loaded:
    pipeline: Pipeline
    file: str


def _uses_lookup(library: Library):  # type: ignore[no-untyped-def]
    names = set(library.names())

    def lookup(task: Task) -> UsesInfo | None:
        if task.uses not in names:
            return None
        spec = library.get(task.uses)
        given: dict[str, Any] = dict(task.with_)
        for key, values in task.matrix.items():
            given.setdefault(key, values[0] if values else "")
        _, issues = with_issues(spec, given)
        problems = tuple((("with", *path), message, hint) for path, message, hint in issues)
        return UsesInfo(results=tuple(r.name for r in spec.spec.results),
                        workspaces=tuple((w.name, w.optional) for w in spec.spec.workspaces),
                        params=tuple(p.name for p in spec.spec.params), problems=problems)

    return lookup


def validate(text: str | bytes, file: str, library: Library) -> Loaded:
    """The validated pipeline; ``ValidationFailed`` lists every problem with its line."""
    pipeline, _ = validate_text(text, file, _uses_lookup(library), library.names())
    return Loaded(pipeline, file)


def expander(library: Library, file: str):  # type: ignore[no-untyped-def]
    def expand(name: str, with_: Mapping[str, Any]) -> UsesExpansion:
        exp = expand_library_task(library.get(name), with_, file=file)
        return UsesExpansion(steps=exp.steps, results=exp.results,
                             workspaces=tuple((w.name, w.optional, w.read_only, w.mount_path)
                                              for w in exp.workspaces),
                             notes=exp.notes)

    return expand


def manifests_for(ctx: RunContext):  # type: ignore[no-untyped-def]
    from engine.compiler.pods import task_manifests

    def build(task: TaskPlan, plan: Plan) -> Mapping[str, object]:
        return {"objects": task_manifests(task, plan.workspaces, ctx, pipeline=plan.pipeline)}

    return build


def compile_run(loaded: Loaded, ctx: RunContext, library: Library, *, manifests: bool = False) -> Plan:
    return compile_pipeline(loaded.pipeline, ctx, expander(library, loaded.file), file=loaded.file,
                            manifests=manifests_for(ctx) if manifests else None)


def find_pipeline_file(project_dir: Path, file: str | None) -> Path:
    """``--file`` relative to the project directory, else ``.wishstar.yaml`` there."""
    return project_dir / (file or DEFAULT_FILE)
