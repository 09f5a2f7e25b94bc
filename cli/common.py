"""Shared pieces of the CLI: consoles (progress and errors on stderr, data on stdout), the store, output modes,
and the one place user errors become messages and exit codes instead of stack traces."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from wishstar.engine.spec.errors import ValidationFailed, WishstarError
from wishstar.pipelines.settings import Settings, get_settings

if TYPE_CHECKING:
    from wishstar.engine.store.api import Store

ICONS = {"pending": ("·", "dim"), "running": ("▶", "cyan"), "succeeded": ("✓", "green"),
         "failed": ("✗", "red"), "skipped": ("↷", "yellow"), "cancelled": ("■", "magenta")}

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


class Output(StrEnum):
    text = "text"
    json = "json"


class PlanOutput(StrEnum):
    text = "text"
    json = "json"
    yaml = "yaml"


class UserError(WishstarError):
    """A mistake in how the command was called."""


def settings(state_dir: Path | None = None) -> Settings:
    base = get_settings()
    return base.model_copy(update={"state_dir": state_dir}) if state_dir else base


def ensure_state_dir(cfg: Settings) -> None:
    """Create the state directory, or a ``UserError`` naming it and the two ways it is set."""
    try:
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        what = "not a directory" if cfg.state_dir.exists() else f"cannot create it ({exc.strerror or exc})"
        raise UserError(f"state directory {cfg.state_dir}: {what} (hint: --state-dir or WISHSTAR_STATE_DIR names "
                        "a directory Wishstar can create and write)") from None


@contextmanager
def open_store(cfg: Settings) -> Iterator[Store]:
    from wishstar.engine.store.api import Store

    ensure_state_dir(cfg)
    store = Store.open(cfg.database_url, cfg.state_dir)
    try:
        for run_id in store.reap_orphans():
            from wishstar.engine.executors.procs import kill_leftovers

            kill_leftovers(run_id)  # the dead engine's steps outlived it in their own sessions
        yield store
    finally:
        store.close()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def report_error(exc: BaseException) -> int:
    """Print a user error without a stack trace; returns the exit code."""
    if isinstance(exc, ValidationFailed):
        for problem in exc.problems:
            err.print(f"[red]error[/red] {problem}", markup=True, highlight=False)
        err.print(f"{len(exc.problems)} problem(s) found")
        return 1
    err.print(f"[red]error[/red]: {_escape(str(exc))}")
    return 2 if isinstance(exc, UserError) else 1


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
