"""Text and JSON renderings of plans and validation results for the CLI (no I/O beyond the consoles)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from rich.markup import escape

from wishstar.cli.common import out
from wishstar.engine.compiler.placement import apply_placement
from wishstar.engine.compiler.types import Plan, TaskPlan
from wishstar.engine.spec.errors import Problem


def objects_yaml(objects: Iterable[Mapping[str, Any]]) -> str:
    """Kubernetes objects as YAML documents, in the given order: how ``wishstar plan --output yaml`` prints them
    (the test that compares plan with what the executor creates dumps the executor's objects with this too)."""
    return yaml.safe_dump_all([dict(o) for o in objects], sort_keys=False, default_flow_style=False)


def manifests_yaml(plan: Plan) -> str:
    """``wishstar plan --output yaml``: every task's objects for attempt 1, in plan order."""
    return objects_yaml(obj for t in plan.all_tasks() for obj in t.pod.get("objects", []))


def validation_json(ok: bool, problems: list[Problem]) -> dict[str, Any]:
    return {"valid": ok, "problems": [p.as_dict() for p in problems]}


def _task_dict(task: TaskPlan, with_manifests: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": task.name, "base": task.base, "finally": task.is_finally, "uses": task.uses,
        "needs": list(task.needs), "when": task.when, "results": list(task.results),
        "matrix": dict(task.matrix), "timeout_s": task.timeout_s, "retries": task.retries.limit,
        "allow_failure": task.allow_failure,
        "steps": [{"name": s.name, "image": s.image, "script": s.script, "command": s.command, "args": s.args}
                  for s in task.steps],
        "notes": list(task.notes),
    }
    if with_manifests:
        data["manifests"] = list(task.pod.get("objects", []))
    return data


def plan_dict(plan: Plan, *, with_manifests: bool = False) -> dict[str, Any]:
    return {
        "pipeline": plan.pipeline,
        "layers": [list(layer) for layer in plan.layers],
        "edges": [{"from": e.source, "to": e.target, "why": list(e.reasons)} for e in plan.edges],
        "finally": list(plan.finally_tasks),
        "params": dict(plan.params),
        "tasks": [_task_dict(t, with_manifests) for t in plan.all_tasks()],
    }


def print_resolutions(resolved: Iterable[Mapping[str, Any]]) -> None:
    """Which task file each ``uses:`` became (``Resolved.as_dict()``): version, catalog (and commit), file."""
    rows = list(resolved)
    if not rows:
        return
    out.print("library tasks")
    for row in rows:
        where = row["catalog"] + (f"@{row['commit'][:12]}" if row.get("commit") else "")
        out.print(f"  {escape(row['uses'])} → {escape(row['task'])}  [dim]{escape(where)}: "
                  f"{escape(row['file'])}[/dim]")


def print_placement(plan: Plan) -> None:
    """What ``placement:`` does on Kubernetes: the chains that become one Pod, and why others do not."""
    if plan.placement == "pod-per-task":
        return
    placed = apply_placement(plan)
    out.print(f"on Kubernetes (placement: {plan.placement})")
    for task in placed.tasks.values():
        if task.members:
            out.print(f"  one Pod: {escape(' → '.join(task.members))}")
    if not placed.members:
        out.print("  no chain of tasks to merge: one Pod per task")
    for note in placed.placement_notes:
        out.print(f"  [dim]{escape(note)}[/dim]")


def print_plan(plan: Plan) -> None:
    out.print(f"[bold]{escape(plan.pipeline)}[/bold]: {len(plan.tasks)} tasks in {len(plan.layers)} layers"
              f", {len(plan.finally_tasks)} finally")
    incoming: dict[str, list[str]] = {}
    for edge in plan.edges:
        incoming.setdefault(edge.target, []).append(f"{edge.source} ({', '.join(edge.reasons)})")
    for i, layer in enumerate(plan.layers, start=1):
        out.print(f"layer {i}")
        for name in layer:
            task = plan.tasks[name]
            what = f"uses {task.uses}" if task.uses else f"{len(task.steps)} step(s)"
            cond = f"  when: {task.when}" if task.when else ""
            out.print(f"  {escape(name)}  [dim]{escape(what)}{escape(cond)}[/dim]")
            for source in incoming.get(name, []):
                out.print(f"    ← {escape(source)}")
    if plan.finally_tasks:
        out.print("finally")
        for name in plan.finally_tasks:
            out.print(f"  {escape(name)}")
