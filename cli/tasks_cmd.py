"""``wishstar tasks list`` and ``wishstar tasks show NAME[@VERSION]``: what the task library holds.

``list`` parses one file per name (its newest version, for the description); ``show`` one file. Unknown names
and versions end as one line with a did-you-mean hint (``UnknownTask``/``UnknownVersion`` are user errors).
Must not change the library: it reads catalogs as a run would (same search order, same pins).
"""

from __future__ import annotations

import enum
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from wishstar.cli.common import Output, out, print_json, settings
from wishstar.engine.spec.errors import ValidationFailed, WishstarError

if TYPE_CHECKING:
    from wishstar.engine.spec.tekton import ParamSpec, TektonTask
    from wishstar.tasks import Library, Resolved

CatalogOpt = Annotated[list[str], typer.Option(
    "--catalog", help="extra task catalog (directory, or git URL[#REF]), searched before the settings' and the "
                      "built-in ones; repeatable")]
ProjectOpt = Annotated[Path, typer.Option("--project", help="project directory whose .wishstar/tasks/ is "
                                                            "searched first")]

tasks_app = typer.Typer(help="The library of reusable tasks (Tekton Task schema).", no_args_is_help=True)


class ShowOutput(enum.StrEnum):
    text = "text"
    yaml = "yaml"
    json = "json"


def open_library(catalogs: list[str], project: Path | None) -> Library:
    """The library a run from ``project`` would read: its own tasks, ``--catalog``, settings, built-in."""
    from wishstar.pipelines.catalogs import open_library as build

    return build(settings(), catalogs, project=project)


def _one_line(text: str | None) -> str:
    words = " ".join((text or "").split())
    sentence = re.split(r"(?<=[.!?])\s", words, maxsplit=1)[0]
    return sentence if len(sentence) <= 100 else sentence[:99] + "…"


def _row(library: Library, name: str) -> dict[str, Any]:
    """One task's line; a file that does not load (a flat file's version is in it) is marked, not fatal."""
    try:
        found = library.versions(name)
        first = found[0][1]
        mine = [v for v, c in found if c == first]
        data: dict[str, Any] = {
            "name": name, "version": mine[0], "other_versions": mine[1:], "catalog": first.label,
            "commit": first.commit,
            "shadowed": [{"version": v, "catalog": c.describe()} for v, c in found if c != first]}
        data.update(description=library.get(name).spec.description or "", file=library.source(name))
    except ValidationFailed as exc:
        data = {"name": name, "version": "?", "other_versions": [], "catalog": "?", "commit": None, "shadowed": [],
                "description": "", "problem": str(exc.problems[0])}
    return data


@tasks_app.command("list")
def tasks_list(
    catalog: CatalogOpt = [],  # noqa: B006
    project: ProjectOpt = Path("."),
    output: Annotated[Output, typer.Option(help="json: one object per task")] = Output.text,
) -> None:
    """Every task: newest version, other versions, what it does and the catalog it comes from."""
    library = open_library(catalog, project)
    rows = [_row(library, name) for name in library.names()]
    if output is Output.json:
        print_json(rows)
        return
    width = max([len(r["name"]) for r in rows] + [4])
    out.print(f"[bold]{'NAME':<{width}}  VERSION  OTHER VERSIONS  CATALOG[/bold]  DESCRIPTION")
    for r in rows:
        other = ", ".join(r["other_versions"]) or "-"
        where = r["catalog"] + (f"@{r['commit'][:12]}" if r["commit"] else "")
        said = f"[red]invalid: {escape(r['problem'])}[/red]" if "problem" in r else escape(_one_line(r["description"]))
        out.print(f"{escape(r['name']):<{width}}  {escape(r['version']):<7}  {escape(other):<14}  {escape(where)}  "
                  f"{said}", highlight=False, soft_wrap=True)


@tasks_app.command("show")
def tasks_show(
    task: Annotated[str, typer.Argument(help="NAME (the newest version) or NAME@VERSION")],
    catalog: CatalogOpt = [],  # noqa: B006
    project: ProjectOpt = Path("."),
    output: Annotated[ShowOutput, typer.Option(help="yaml: the Task file itself; json: the details")]
    = ShowOutput.text,
) -> None:
    """A task's description, params, results, workspaces, step images and an example ``uses:``."""
    from wishstar.engine.spec.uses import uses_problem

    bad = uses_problem(task)
    if bad is not None:
        raise WishstarError(f"{bad[0]} (hint: {bad[1]})")
    library = open_library(catalog, project)
    resolved = library.resolve(task)
    tekton = library.get(task)
    if output is ShowOutput.yaml:
        sys.stdout.write(resolved.entry.read_text(encoding="utf-8"))
        return
    details = _details(library, resolved, tekton)
    if output is ShowOutput.json:
        print_json(details)
    else:
        _print_details(details)


def _param(p: ParamSpec) -> dict[str, Any]:
    return {"name": p.name, "type": p.type or "string", "default": p.default, "required": p.default is None,
            "enum": p.enum, "description": p.description or ""}


def _details(library: Library, resolved: Resolved, tekton: TektonTask) -> dict[str, Any]:
    spec = tekton.spec
    return {
        **resolved.as_dict(), "name": resolved.name, "version": resolved.version,
        "versions": [v for v, c in library.versions(resolved.name) if c == resolved.catalog],
        "description": spec.description or "",
        "params": [_param(p) for p in spec.params],
        "results": [{"name": r.name, "type": r.type, "description": r.description or ""} for r in spec.results],
        "workspaces": [{"name": w.name, "optional": w.optional, "description": w.description or ""}
                       for w in spec.workspaces],
        "steps": [{"name": s.name or f"step-{i}", "image": s.image} for i, s in enumerate(spec.steps)],
        "example": example(resolved, tekton),
    }


def _placeholder(p: ParamSpec) -> Any:
    if p.type == "array":
        return ["<item>"]
    if p.type == "object":
        return {key: f"<{key}>" for key in (p.properties or {})}
    return p.enum[0] if p.enum else f"<{p.name}>"


def example(resolved: Resolved, tekton: TektonTask) -> str:
    """A pipeline file that uses the task with its required params and workspaces (it validates as it is)."""
    import yaml

    body: dict[str, Any] = {"uses": f"{resolved.name}@{resolved.version}"}
    required = {p.name: _placeholder(p) for p in tekton.spec.params if p.default is None}
    if required:
        body["with"] = required
    needed = [w.name for w in tekton.spec.workspaces if not w.optional]
    if needed:
        body["workspaces"] = {w: "source" for w in needed}
    data: dict[str, Any] = {"name": "example"}
    if needed:
        data["workspaces"] = ["source"]
    data["tasks"] = {resolved.name: body}
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def _print_details(d: dict[str, Any]) -> None:
    where = d["catalog"] + (f"@{d['commit'][:12]}" if d["commit"] else "")
    out.print(f"[bold]{escape(d['task'])}[/bold]  [dim]{escape(where)}: {escape(d['file'])}[/dim]", soft_wrap=True)
    others = [v for v in d["versions"] if v != d["version"]]
    out.print(f"versions: {escape(', '.join(d['versions']))}" + (" (newest first)" if others else ""))
    out.print(escape(" ".join(d["description"].split())) or "[dim](no description)[/dim]", soft_wrap=True)
    sections: list[tuple[str, list[tuple[str, str]]]] = [
        ("params", [(p["name"], f"{p['type']}  " + ("required" if p["required"] else f"default {p['default']!r}")
                     + (f"  one of {', '.join(p['enum'])}" if p["enum"] else "") + f"  {p['description']}")
                    for p in d["params"]]),
        ("results", [(r["name"], f"{r['type']}  {r['description']}") for r in d["results"]]),
        ("workspaces", [(w["name"], f"{'optional  ' if w['optional'] else ''}{w['description']}")
                        for w in d["workspaces"]]),
        ("steps", [(s["name"], s["image"] or "(the stepTemplate image)") for s in d["steps"]]),
    ]
    for title, rows in sections:
        out.print(f"[bold]{title}[/bold]" + ("" if rows else "  none"))
        width = max((len(name) for name, _ in rows), default=0)
        for name, rest in rows:
            out.print(f"  {escape(name):<{width}}  {escape(rest)}", highlight=False, soft_wrap=True)
    out.print("[bold]example[/bold]")
    for line in d["example"].splitlines():
        out.print(f"  {escape(line)}", highlight=False, soft_wrap=True)
