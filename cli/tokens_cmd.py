"""``wishstar tokens create|list|revoke``: the server's API tokens, managed against its database directly.

Why: the first admin token of a fresh install cannot come from the API (nothing could call it yet), so an
operator on the server's machine runs these with the server's settings (``WISHSTAR_DATABASE_URL``). Decisions:

- The token is printed once, alone on stdout (``TOKEN=$(wishstar tokens create ...)``); what it may do goes
  to stderr. It is stored only as a hash, so a lost token is revoked and replaced, never shown again.
- A token names its projects (``--project group/app``, registered ones) or says ``--all-projects``: being
  valid everywhere is never a default.
- It expires after ``token_expiry_days`` (90) unless ``--expires 30d`` or ``--expires never`` says otherwise.
- Creating and revoking are written to the audit log (stderr, JSON), with the operator's name, never the token.
"""

from __future__ import annotations

import getpass
import logging
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from wishstar.cli.common import Output, UserError, err, open_store, out, print_json, settings

if TYPE_CHECKING:
    from wishstar.engine.store.api import Store

tokens_app = typer.Typer(help="API tokens of the server (scopes: read, trigger, operate, admin).",
                         no_args_is_help=True)
StateDir = Annotated[Path | None, typer.Option("--state-dir", help="where state lives (env WISHSTAR_STATE_DIR)")]
_DAY = 86400.0


def expiry(value: str | None, default_days: int, now: float) -> float | None:
    """``--expires``: ``90d`` (days from now), ``never`` (None), or the default number of days."""
    if value is None:
        return now + default_days * _DAY
    if value.strip().lower() == "never":
        return None
    text = value.strip().lower().removesuffix("d")
    if not text.isdigit() or not 1 <= int(text) <= 3650:
        raise UserError(f'--expires {value}: give a number of days such as "90d" (1 to 3650), or "never"')
    return now + int(text) * _DAY


def _operator() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _audit(event: str, name: str, **details: object) -> None:
    from wishstar.webhook.audit import audit, ensure_handler

    ensure_handler()
    audit(event, who=_operator(), what=f"{event.removeprefix('token_')} {name}", source="cli", token=name,
          level=logging.INFO, **details)


def _check_projects(store: Store, paths: list[str]) -> list[str]:
    from wishstar.engine.store.server import Projects

    known = {p.path for p in Projects(store).list()}
    unknown = [p for p in paths if p not in known]
    if unknown:
        raise UserError(f"--project {unknown[0]}: no such registered project (hint: `wishstar projects list`)")
    return paths


@tokens_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="what the token is for, e.g. ci-bot (unique)")],
    scope: Annotated[list[str], typer.Option("--scope", help="read, trigger, operate or admin; repeatable")],
    project: Annotated[list[str], typer.Option("--project", help="limit to this project (group/app); "
                                                                 "repeatable")] = [],  # noqa: B006
    all_projects: Annotated[bool, typer.Option("--all-projects", help="valid for every project")] = False,
    expires: Annotated[str | None, typer.Option("--expires", help='"90d" or "never" (default: the '
                                                                  "token_expiry_days setting)")] = None,
    state_dir: StateDir = None,
) -> None:
    """Create an API token and print it once."""
    from wishstar.engine.store.shape import iso
    from wishstar.engine.store.tokens import ApiTokens

    if bool(project) == all_projects:
        raise UserError("say which projects the token is for: --project group/app (repeatable) or --all-projects")
    cfg = settings(state_dir)
    now = time.time()
    expires_at = expiry(expires, cfg.token_expiry_days, now)
    with open_store(cfg) as store:
        projects = _check_projects(store, project) if project else None
        record, token = ApiTokens(store).create(name, scope, projects, now=now, expires_at=expires_at,
                                                created_by=_operator())
    _audit("token_created", name, scopes=list(record.scopes), projects=record.projects,
           expires_at=iso(record.expires_at))
    where = ", ".join(record.projects) if record.projects is not None else "every project"
    until = f"expires {iso(record.expires_at)}" if record.expires_at is not None else "never expires"
    err.print(f"token {escape(name)}: {', '.join(record.scopes)} on {escape(where)}; {until}. It is shown "
              "only now: store it in a secret manager (hint: clients read WISHSTAR_TOKEN)", highlight=False)
    sys.stdout.write(token + "\n")
    sys.stdout.flush()


@tokens_app.command("list")
def list_tokens(output: Annotated[Output, typer.Option()] = Output.text, state_dir: StateDir = None) -> None:
    """Every token: name, scopes, projects, created, expires, last used, state (never the token)."""
    from wishstar.engine.store.tokens import ApiTokens
    from wishstar.webhook.routes.tokens import token_out

    now = time.time()
    with open_store(settings(state_dir)) as store:
        views = [token_out(r, now).model_dump() for r in ApiTokens(store).list()]
    if output is Output.json:
        print_json(views)
        return
    table = Table(box=None, header_style="bold")
    for col in ("name", "scopes", "projects", "created", "expires", "last used", "state"):
        table.add_column(col, overflow="fold")
    for v in views:
        table.add_row(escape(v["name"]), ",".join(v["scopes"]),
                      escape(", ".join(v["projects"])) if v["projects"] is not None else "all",
                      _day(v["created_at"]), _day(v["expires_at"]) or "never", _day(v["last_used_at"]) or "-",
                      v["state"])
    out.print(table)


def _day(stamp: str | None) -> str:
    return (stamp or "")[:16].replace("T", " ")


@tokens_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="the token's name (wishstar tokens list)")],
    state_dir: StateDir = None,
) -> None:
    """Revoke one token; requests with it are refused (401) from now on."""
    from wishstar.engine.store.tokens import ApiTokens

    with open_store(settings(state_dir)) as store:
        record = ApiTokens(store).revoke(name, time.time())
    _audit("token_revoked", name)
    out.print(f"revoked token {escape(record.name)}")
