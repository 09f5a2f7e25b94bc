"""``wishstar projects add|list|remove``: registering the GitLab projects the server builds.

Why: onboarding a project is one command: look it up through GitLab's API, generate a webhook secret (or
adopt an existing hook's), create the hook (push, tag push, merge request and note events, SSL verification
on) and store the project. Decisions:

- The API token comes from an environment variable (``--token-env VAR``, default ``WISHSTAR_GITLAB_TOKEN``),
  never from the command line, and is never printed. A token given with ``--token-env`` is stored with the
  project (statuses then use it); without it the server uses ``WISHSTAR_GITLAB_TOKEN``.
- With a token the project is always looked up (it checks the token and gives the path and clone URL).
  Without one, only ``--no-create-hook`` with a numeric project id works; the path is then the id.
- ``--no-create-hook`` registers a project whose hook already exists, so it needs that hook's secret:
  ``--hook-secret-env VAR`` is required with it (a generated secret would be known to nobody, since secrets
  are never printed). With a token, the existing hook with the same URL is found and its id recorded.
- The project is stored first and the hook created second; if GitLab refuses the hook, the project is removed
  again, so a failed ``add`` leaves nothing behind.

Must not print or log tokens or hook secrets.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from wishstar.cli.common import Output, UserError, open_store, out, print_json, settings

if TYPE_CHECKING:
    from wishstar.pipelines.settings import Settings
    from wishstar.webhook.gitlab_api import GitLabClient, RemoteProject

projects_app = typer.Typer(help="GitLab projects Wishstar builds (webhooks in, statuses out).",
                           no_args_is_help=True)
StateDir = Annotated[Path | None, typer.Option("--state-dir", help="where state lives (env WISHSTAR_STATE_DIR)")]
DEFAULT_TOKEN_ENV = "WISHSTAR_GITLAB_TOKEN"


def _env(var: str, what: str) -> str:
    value = os.environ.get(var, "")
    if not value:
        raise UserError(f"{what}: environment variable {var} is not set or empty")
    return value


def _http_url(value: str, what: str) -> str:
    """``value`` if it is an http(s) URL with a host, else a ``UserError`` naming ``what``."""
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"{what} {value!r}: not an http(s) URL (hint: e.g. https://gitlab.example.com)")
    return value


def _client(url: str, token: str) -> GitLabClient:
    from wishstar.webhook.gitlab_api import GitLabClient

    return GitLabClient(url, token)


def _lookup(gitlab_project: str, gitlab_url: str, token: str | None, create_hook: bool) -> RemoteProject:
    from wishstar.webhook.gitlab_api import RemoteProject

    if token:
        ref: int | str = int(gitlab_project) if gitlab_project.isdigit() else gitlab_project
        return _client(gitlab_url, token).get_project(ref)
    if create_hook or not gitlab_project.isdigit():
        raise UserError(f"no API token to look up {gitlab_project!r} on {gitlab_url} "
                        f"(hint: export {DEFAULT_TOKEN_ENV} or pass --token-env VAR; without a token only "
                        f"--no-create-hook with a numeric project id works)")
    return RemoteProject(id=int(gitlab_project), path_with_namespace=gitlab_project, http_url_to_repo=None)


@projects_app.command("add")
def add(
    gitlab_project: Annotated[str, typer.Argument(help="GitLab project path (group/app) or numeric id")],
    url: Annotated[str | None, typer.Option("--url", help="GitLab base URL (default WISHSTAR_GITLAB_URL)")]
    = None,
    token_env: Annotated[str | None, typer.Option(
        "--token-env", help=f"variable holding this project's API token (default {DEFAULT_TOKEN_ENV})")] = None,
    hook_secret_env: Annotated[str | None, typer.Option(
        "--hook-secret-env", help="variable holding an existing hook's secret, adopted instead of a new one")]
    = None,
    no_create_hook: Annotated[bool, typer.Option("--no-create-hook", help="the hook exists already")] = False,
    clone_url: Annotated[str | None, typer.Option("--clone-url", help="clone from here, not the payload's URL")]
    = None,
    hook_url: Annotated[str | None, typer.Option(
        "--hook-url", help="where GitLab sends events (default: the public URL + /hooks/gitlab)")] = None,
    statuses_per_task: Annotated[bool, typer.Option("--statuses-per-task", help="a commit status per task")]
    = False,
    mr_notes: Annotated[bool, typer.Option("--mr-notes", help="a merge-request note with the task table")]
    = False,
    fork_secrets: Annotated[bool, typer.Option("--fork-secrets", help="give project secrets to fork MRs")]
    = False,
    state_dir: StateDir = None,
) -> None:
    """Register a GitLab project and create its webhook."""
    from wishstar.engine.store.server import Projects, new_hook_secret
    from wishstar.engine.store.tokens import looks_like_api_token

    cfg = settings(state_dir)
    gitlab_url = (url or cfg.gitlab_url or "").rstrip("/")
    if not gitlab_url:
        raise UserError("--url: which GitLab? (or set WISHSTAR_GITLAB_URL)")
    if url:
        _http_url(url, "--url")  # WISHSTAR_GITLAB_URL is checked with the settings
    if hook_url:
        _http_url(hook_url, "--hook-url")
    if no_create_hook and not hook_secret_env:
        raise UserError("--no-create-hook needs --hook-secret-env VAR: the existing hook's secret")
    own_token = _env(token_env, "--token-env") if token_env else None
    token = own_token or (os.environ.get(DEFAULT_TOKEN_ENV) or cfg.gitlab_token)
    secret = _env(hook_secret_env, "--hook-secret-env") if hook_secret_env else new_hook_secret()
    if looks_like_api_token(secret):
        raise UserError(f"--hook-secret-env {hook_secret_env}: that is a Wishstar API token (wst_...), never a "
                        "hook secret; give the hook's own secret")
    target = hook_url or f"{cfg.public_url.rstrip('/')}/hooks/gitlab"
    remote = _lookup(gitlab_project, gitlab_url, token, not no_create_hook)
    with open_store(cfg) as store:
        projects = Projects(store)
        project = projects.add(gitlab_url=gitlab_url, gitlab_id=remote.id, path=remote.path_with_namespace,
                               hook_secret=secret, now=time.time(), api_token=own_token, clone_url=clone_url,
                               fork_secrets=fork_secrets, statuses_per_task=statuses_per_task,
                               mr_notes=mr_notes)
        try:
            hook_id = _hook(gitlab_url, token, remote.id, target, secret, create=not no_create_hook)
        except BaseException:
            projects.remove(project.id)
            raise
        if hook_id is not None:
            projects.set_hook_id(project.id, hook_id)
    how = "adopted hook" if no_create_hook else "created hook"
    hook_text = f"{how} {hook_id}" if hook_id is not None else "hook not checked (no token)"
    out.print(f"registered {escape(remote.path_with_namespace)} (GitLab id {remote.id}); {hook_text} -> "
              f"{escape(target)}")


def _hook(gitlab_url: str, token: str | None, project_id: int, target: str, secret: str, *,
          create: bool) -> int | None:
    """Create the hook, or find the existing one with the same URL; its id (None when it cannot be known)."""
    if not token:
        return None
    client = _client(gitlab_url, token)
    if create:
        return client.create_hook(project_id, target, secret)
    existing = [h.id for h in client.list_hooks(project_id) if h.url.rstrip("/") == target.rstrip("/")]
    return existing[0] if existing else None


@projects_app.command("list")
def list_projects(output: Annotated[Output, typer.Option()] = Output.text, state_dir: StateDir = None) -> None:
    """Registered projects (never their secrets or tokens)."""
    from wishstar.engine.store.server import Projects, project_view

    with open_store(settings(state_dir)) as store:
        views = [project_view(p) for p in Projects(store).list()]
    if output is Output.json:
        print_json(views)
        return
    table = Table(box=None, header_style="bold")
    for col in ("id", "path", "gitlab", "gitlab id", "hook", "token", "options"):
        table.add_column(col)
    for v in views:
        options = [name for name in ("statuses_per_task", "mr_notes", "fork_secrets") if v[name]]
        table.add_row(str(v["id"]), escape(v["path"]), escape(v["gitlab_url"]), str(v["gitlab_id"]),
                      str(v["hook_id"] or "-"), "own" if v["has_token"] else "server", ", ".join(options))
    out.print(table)


@projects_app.command("remove")
def remove(
    project: Annotated[str, typer.Argument(help="path (group/app), GitLab id or Wishstar id")],
    delete_hook: Annotated[bool, typer.Option("--delete-hook", help="also delete its hook on GitLab")] = False,
    state_dir: StateDir = None,
) -> None:
    """Forget a project (its events, outbox and notes go with it)."""
    from wishstar.engine.store.server import Projects

    cfg = settings(state_dir)
    with open_store(cfg) as store:
        projects = Projects(store)
        found = projects.resolve(project)
        note = ""
        if delete_hook:
            note = _delete_hook(cfg, found.gitlab_url, found.api_token, found.gitlab_id, found.hook_id)
        projects.remove(found.id)
    out.print(f"removed {escape(found.path)}{note}")


def _delete_hook(cfg: Settings, gitlab_url: str, own_token: str | None, project_id: int,
                 hook_id: int | None) -> str:
    if hook_id is None:
        return "; it has no recorded hook to delete"
    token = own_token or os.environ.get(DEFAULT_TOKEN_ENV) or cfg.gitlab_token
    if not token:
        raise UserError(f"--delete-hook: no API token (hint: export {DEFAULT_TOKEN_ENV})")
    deleted = _client(gitlab_url, token).delete_hook(project_id, hook_id)
    return f"; deleted hook {hook_id}" if deleted else f"; hook {hook_id} was already gone"
