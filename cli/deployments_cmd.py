"""``wishstar deployments``: what is deployed where, from the store's deployments (never from Helm's list).

Why: the Helm revision each run installed, with its image digest and commit, is recorded when the Helm task
succeeds (docs/store.md, "Deployments"); this command asks the three questions of it: a project's current
releases, one release's history, where a digest is deployed. Locally it reads the store; with ``--server``
(token in ``WISHSTAR_TOKEN``) it asks the server's API, which calls the same queries. Must stay quick to
start: the store and HTTP client are imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from wishstar.cli.common import Output, UserError, open_store, out, print_json, settings

if TYPE_CHECKING:
    from wishstar.engine.store.deployments import Deployment

StateDir = Annotated[Path | None, typer.Option("--state-dir", help="where runs live (env WISHSTAR_STATE_DIR)")]
Server = Annotated[str | None, typer.Option(
    "--server", envvar="WISHSTAR_SERVER", help="ask this Wishstar server's API instead of the local store (token: "
                                               "env WISHSTAR_TOKEN)")]


def deployments(
    project: Annotated[str | None, typer.Argument(
        help="the project (a server project's path, group/app; a `wishstar run`'s: its pipeline name)")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="only this namespace")] = None,
    release: Annotated[str | None, typer.Option("--release", "-r", help="only this Helm release")] = None,
    history: Annotated[bool, typer.Option("--history", help="every recorded revision of --release, newest "
                                                            "first")] = False,
    digest: Annotated[str | None, typer.Option("--digest", help="where this image digest (sha256:...) is "
                                                                "deployed")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many (history, digest, latest)")] = 50,
    output: Annotated[Output, typer.Option()] = Output.text,
    state_dir: StateDir = None,
    server: Server = None,
) -> None:
    """What is deployed where: a project's current releases, a release's --history, or where a --digest runs.

    With no project and no --digest: the latest deployments of every project."""
    if history and release is None:
        raise UserError("--history needs --release NAME (hint: `wishstar deployments PROJECT` lists the releases)")
    if history and digest is not None:
        raise UserError("--history and --digest ask different questions: give one of them")
    if history and project is None and namespace is None:
        raise UserError(f"--history --release {release}: name the project or --namespace too")
    found = _remote_query(server, project, namespace, release, history, digest, limit) if server else \
        _local_query(state_dir, project, namespace, release, history, digest, limit)
    if digest is not None and project is not None:
        found = [d for d in found if d.project == project]
    if output is Output.json:
        from wishstar.engine.store.deployments import deployment_dict

        print_json([deployment_dict(d) for d in found])
        return
    if not found:
        out.print(_nothing(project, namespace, release, digest))
        return
    print_table(found, with_project=project is None, with_current=history or digest is not None or
                project is None)


def _local_query(state_dir: Path | None, project: str | None, namespace: str | None, release: str | None,
                 history: bool, digest: str | None, limit: int) -> list[Deployment]:
    from wishstar.engine.store.deployments import Deployments

    with open_store(settings(state_dir)) as store:
        query = Deployments(store)
        if digest is not None:
            return query.where(digest, limit=limit)
        if history and release is not None:
            return query.history(release, namespace=namespace, project=project, limit=limit)
        if project is None:
            return [d for d in query.recent(limit=limit) if _matches(d, namespace, release)]
        return query.current(project, namespace=namespace, release=release)


def _remote_query(server: str, project: str | None, namespace: str | None, release: str | None, history: bool,
                  digest: str | None, limit: int) -> list[Deployment]:
    from wishstar.cli.remote import Remote
    from wishstar.engine.store.deployments import deployment_from_json

    remote = Remote.connect(server)
    try:
        if digest is not None or project is None:
            listed = remote.find_deployments(digest=digest, limit=limit)
        else:
            listed = remote.project_deployments(project, namespace=namespace, release=release,
                                                history=history or None, limit=limit)
    finally:
        remote.close()
    rows = [deployment_from_json(item) for item in listed]
    return rows if project is not None or digest is not None else [d for d in rows if _matches(d, namespace,
                                                                                                 release)]


def _matches(item: Deployment, namespace: str | None, release: str | None) -> bool:
    return (namespace is None or item.namespace == namespace) and (release is None or item.release == release)


def _nothing(project: str | None, namespace: str | None, release: str | None, digest: str | None) -> str:
    if digest is not None:
        return f"no deployment of {escape(digest)} is recorded"
    scope = " ".join(x for x in (f"project {project}" if project else "",
                                 f"namespace {namespace}" if namespace else "",
                                 f"release {release}" if release else "") if x)
    return escape(f"no deployments recorded{' for ' + scope if scope else ''} (a deployment is recorded when a "
                  "task with RELEASE_NAME and RELEASE_REVISION results succeeds)")


def short_digest(digest: str | None) -> str:
    if not digest:
        return ""
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}:{encoded[:12]}" if encoded else digest


def print_table(found: list[Deployment], *, with_project: bool, with_current: bool) -> None:
    """Deployments as a table (also ``wishstar runs show``'s deployments)."""
    from wishstar.engine.store.shape import iso

    table = Table(box=None, header_style="bold")
    columns = [*(["project"] if with_project else []), "namespace", "release", "rev",
               *(["current"] if with_current else []), "digest", "image", "chart", "commit", "ref", "run",
               "deployed"]
    for column in columns:
        table.add_column(column, overflow="fold")
    for item in found:
        chart = f"{item.chart or ''} {item.chart_version or ''}".strip()
        cells = [*([item.project] if with_project else []), item.namespace, item.release, str(item.revision),
                 *(["yes" if item.current else ""] if with_current else []), short_digest(item.image_digest),
                 item.image or "", chart, (item.commit or "")[:10], item.ref or "",
                 f"{item.pipeline}#{item.run_number}" + ("" if item.run_id else " (deleted)"),
                 (iso(item.deployed_at) or "")[:19].replace("T", " ")]
        table.add_row(*(escape(cell) for cell in cells))
    out.print(table)
