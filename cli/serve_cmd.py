"""``wishstar serve``: the webhook receiver, the REST API and the workers in one process.

Why: one command a team runs (or several, as replicas sharing PostgreSQL). Must not import FastAPI or uvicorn
before the command runs: other commands' start-up time would pay for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wishstar.cli.common import ensure_state_dir, settings


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8080,
    state_dir: Annotated[Path | None, typer.Option("--state-dir", help="where runs live (env WISHSTAR_STATE_DIR)")]
    = None,
    no_workers: Annotated[bool, typer.Option("--no-workers", help="only receive hooks and serve the API")]
    = False,
) -> None:
    """Receive GitLab webhooks on POST /hooks/gitlab, serve /api/runs, and run the pipelines they start."""
    from wishstar.engine.store.api import Store
    from wishstar.webhook.serve import serve as run_server

    cfg = settings(state_dir)
    ensure_state_dir(cfg)
    Store.open(cfg.database_url, cfg.state_dir).close()  # a store that cannot be opened: a message, not uvicorn's
    run_server(cfg, host, port, start_workers=not no_workers)
