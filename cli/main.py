"""The ``wishstar`` entry point: commands for running, validating, planning and inspecting pipelines.

Every user error ends here as a one-line message (or a list of problems) and an exit code; stack traces are
only for bugs (and ``WISHSTAR_DEBUG=1``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from wishstar.cli import deployments_cmd, detect_cmd, runs_cmd, serve_cmd
from wishstar.cli.common import Output, PlanOutput, UserError, err, open_store, out, print_json, report_error, settings
from wishstar.cli.projects_cmd import projects_app
from wishstar.cli.tasks_cmd import CatalogOpt, tasks_app
from wishstar.cli.tokens_cmd import tokens_app
from wishstar.engine.spec.errors import ValidationFailed, WishstarError

if TYPE_CHECKING:
    from wishstar.pipelines.load import Loaded
    from wishstar.tasks import Library

# Commands import what they need when they run: `wishstar runs list` should not pay for git, networkx, CEL
# and the compiler (start-up time is most of a short command's time).

app = typer.Typer(name="wishstar", help="Run CI/CD pipelines as DAGs of tasks, locally or on Kubernetes.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
app.add_typer(runs_cmd.runs_app, name="runs")
app.add_typer(tasks_app, name="tasks")
app.command("logs")(runs_cmd.logs)
app.add_typer(projects_app, name="projects")
app.add_typer(tokens_app, name="tokens")
app.command("serve")(serve_cmd.serve)
app.command("detect")(detect_cmd.detect)
app.command("init")(detect_cmd.init)
app.command("deployments")(deployments_cmd.deployments)

StateDir = Annotated[Path | None, typer.Option("--state-dir", help="where runs live (env WISHSTAR_STATE_DIR)")]
FileOpt = Annotated[str | None, typer.Option("--file", "-f", help="pipeline file relative to the project")]
ParamOpt = Annotated[list[str], typer.Option("--param", "-p", help="NAME=VALUE, repeatable")]


def _load(path: Path, file: str | None, library: Library) -> Loaded:
    from wishstar.pipelines.load import NoPipelineFile, find_pipeline_file, validate
    from wishstar.pipelines.source import read_capped

    if not path.exists():
        raise NoPipelineFile(f"{path}: no such file or directory (hint: give a pipeline file or a project "
                             "directory)")
    if file and not path.is_dir():
        raise UserError(f"--file {file}: {path} is a file, not a project directory (hint: give the file, or its "
                        "directory and --file)")
    target = find_pipeline_file(path, file, shown=str(path)) if path.is_dir() else path
    return validate(read_capped(target), str(target), library)


def _library(catalogs: list[str], path: Path) -> Library:
    """The library for the pipeline at ``path``: its project's own tasks, ``--catalog``, settings, built-in."""
    from wishstar.cli.tasks_cmd import open_library

    return open_library(catalogs, path if path.is_dir() else path.parent)


@app.command()
def run(
    source: Annotated[str, typer.Argument(help="project directory inside a git repository, or a git URL")] = ".",
    ref: Annotated[str | None, typer.Option(help="branch, tag or commit to build (default HEAD)")] = None,
    file: FileOpt = None,
    param: ParamOpt = [],  # noqa: B006
    event: Annotated[str, typer.Option(help="simulate a git event: push, tag or merge_request; honours on:")]
    = "manual",
    branch: Annotated[str | None, typer.Option(help="branch name for --event (default: the checkout's)")] = None,
    tag: Annotated[str | None, typer.Option(help="tag name for --event tag")] = None,
    target_branch: Annotated[str | None, typer.Option(
        help="--event merge_request: the branch it merges into (on.merge_request.targetBranches)")] = None,
    executor: Annotated[str, typer.Option(
        help="where tasks run: local, kubernetes, or podman, docker, container (each step in its image here)")]
    = "local",
    namespace: Annotated[str | None, typer.Option(help="kubernetes: namespace (env WISHSTAR_NAMESPACE)")] = None,
    kubeconfig: Annotated[str | None, typer.Option(help="kubernetes: kubeconfig file (default: KUBECONFIG)")]
    = None,
    context: Annotated[str | None, typer.Option(help="kubernetes: kubeconfig context")] = None,
    secret: Annotated[list[str], typer.Option(help="NAME=ENVVAR: secret NAME from environment variable ENVVAR")]
    = [],  # noqa: B006
    secrets_file: Annotated[list[Path], typer.Option(help="YAML mapping NAME: value")] = [],  # noqa: B006
    concurrency: Annotated[int | None, typer.Option(min=1, help="tasks at once (default: CPU count)")] = None,
    output: Annotated[Output, typer.Option(help="json prints the run when it ends")] = Output.text,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="no live view")] = False,
    catalog: CatalogOpt = [],  # noqa: B006
    state_dir: StateDir = None,
) -> None:
    """Check out SOURCE at REF and run its pipeline on this machine."""
    from wishstar.cli.run_cmd import RunRequest, execute, load_secrets, parse_pairs

    if event not in ("manual", "push", "tag", "merge_request"):
        raise UserError(f'--event {event}: use push, tag or merge_request')
    if executor == "kubernetes" and namespace is not None:
        from wishstar.engine.compiler.names import check_namespace

        check_namespace(namespace)  # refused before a run is recorded (WISHSTAR_NAMESPACE: by the settings)
    cfg = settings(state_dir)
    req = RunRequest(source=source, ref=ref, file=file, params=parse_pairs(param, "--param"), event=event,
                     branch=branch, tag=tag, target_branch=target_branch,
                     secrets=load_secrets(secret, secrets_file), executor=executor, namespace=namespace,
                     kubeconfig=kubeconfig, context=context, concurrency=concurrency, progress=not no_progress)
    from wishstar.pipelines.catalogs import open_library

    library = open_library(cfg, catalog)  # the project's own tasks join once it is checked out
    with open_store(cfg) as store:
        run_id, status = execute(req, cfg, store, library)
        if not run_id:
            return
        data = store.get_run(run_id)
    runs_cmd.report_end(data, status, output)


@app.command("validate")
def validate_cmd(
    path: Annotated[Path, typer.Argument(help="pipeline file, or a project directory")] = Path("."),
    file: FileOpt = None,
    output: Annotated[Output, typer.Option(help="json lists problems as objects")] = Output.text,
    catalog: CatalogOpt = [],  # noqa: B006
) -> None:
    """Check a pipeline file; report every problem at once with file, line, field path and a hint."""
    from wishstar.cli.render import validation_json

    try:
        loaded = _load(path, file, _library(catalog, path))
    except ValidationFailed as exc:
        if output is Output.json:
            print_json(validation_json(False, exc.problems))
            raise typer.Exit(1) from None
        raise
    if output is Output.json:
        print_json(validation_json(True, []))
    else:
        out.print(f"{loaded.file}: ok ({len(loaded.pipeline.tasks)} tasks, {len(loaded.pipeline.finally_)} finally)")


@app.command()
def plan(
    path: Annotated[Path, typer.Argument(help="pipeline file, or a project directory")] = Path("."),
    file: FileOpt = None,
    param: ParamOpt = [],  # noqa: B006
    output: Annotated[PlanOutput, typer.Option(help="text: the DAG; yaml: Kubernetes manifests; json: the DAG")]
    = PlanOutput.text,
    manifests: Annotated[bool, typer.Option("--manifests", help="with --output json: each task's manifests")]
    = False,
    namespace: Annotated[str, typer.Option(help="namespace for manifests")] = "default",
    catalog: CatalogOpt = [],  # noqa: B006
) -> None:
    """Show the DAG (layers, edges and why each exists) or the exact Kubernetes manifests."""
    # The manifests are the objects the Kubernetes executor creates for attempt 1 of each task in this namespace
    # (run id "dry-run", build number 0) but for run-time values (earlier results, statuses), secrets given to
    # the run and ownerReferences; tests/executors/test_plan_is_what_runs.py checks it.
    from wishstar.cli.render import manifests_yaml, plan_dict, print_placement, print_plan, print_resolutions
    from wishstar.cli.run_cmd import parse_pairs
    from wishstar.engine.compiler.names import namespace_problems
    from wishstar.engine.compiler.types import RunContext
    from wishstar.pipelines.load import compile_run
    from wishstar.pipelines.road import image_lookup

    library = _library(catalog, path)
    want = output is PlanOutput.yaml or (output is PlanOutput.json and manifests)
    bad_namespace = namespace_problems(namespace) if want else []
    try:
        loaded = _load(path, file, library)
    except ValidationFailed as exc:  # the file's problems and the command line's, at once
        raise ValidationFailed([*exc.problems, *bad_namespace]) from None
    ctx = RunContext(params=parse_pairs(param, "--param"), namespace=namespace,
                     default_image=settings().default_image)
    images = image_lookup(settings()) if want else None  # the manifests need the image entrypoints
    compiled = compile_run(loaded, ctx, library, manifests=want, placement=want, images=images)
    resolved = [r.as_dict() for r in library.resolutions()]
    if output is PlanOutput.yaml:
        sys.stdout.write(manifests_yaml(compiled))
    elif output is PlanOutput.json:
        print_json({**plan_dict(compiled, with_manifests=manifests), "library": resolved})
    else:
        print_plan(compiled)
        print_resolutions(resolved)
        print_placement(compiled)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the pipeline file (for editor autocompletion)."""
    from wishstar.engine.spec.model import Pipeline

    data = Pipeline.model_json_schema(by_alias=True)
    data["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    data["title"] = "Wishstar pipeline (.wishstar.yaml)"
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def main() -> None:
    """Console entry point: user errors become messages and exit codes, never stack traces."""
    try:
        code = app(prog_name="wishstar", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (WishstarError, OSError) as exc:
        if os.environ.get("WISHSTAR_DEBUG"):
            raise
        sys.exit(report_error(exc))
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except typer.Abort:
        sys.exit(130)
    except _usage_errors() as exc:
        # A mistyped option or a missing argument: click's usage message and exit 2, whichever click typer uses
        # (typer >= 0.29 vendors its own; older ones use the click package).
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err.print(str(exc))
        sys.exit(int(getattr(exc, "exit_code", 2)))


def _usage_errors() -> tuple[type[BaseException], ...]:
    """The exception classes that carry a usage message: typer's own, and click's when it is installed."""
    found: list[type[BaseException]] = [typer.TyperException]
    try:
        import click
    except ImportError:  # pragma: no cover - typer >= 0.29 does not need it
        return tuple(found)
    found += [click.exceptions.ClickException]
    return tuple(found)
