"""Running the server under uvicorn: what ``wishstar serve`` calls.

Why: the command line should not know about ASGI servers; this module turns settings, a host and a port into
a running uvicorn with the app from ``create_app``. Must not parse arguments or read the environment itself
(settings arrive built), and must not start more than one process: replicas are separate ``serve`` commands.
"""

from __future__ import annotations

import uvicorn

from wishstar.pipelines.settings import Settings
from wishstar.webhook.app import create_app


def server(settings: Settings, host: str = "127.0.0.1", port: int = 8080, *, start_workers: bool = True,
           log_level: str = "info") -> uvicorn.Server:
    """A uvicorn server for the app (not started: ``server(...).run()``, or ``run(sockets=[...])`` in tests)."""
    app = create_app(settings, start_workers=start_workers)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                            server_header=False, timeout_graceful_shutdown=10)
    return uvicorn.Server(config)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8080, *, start_workers: bool = True) -> None:
    """Run until interrupted (SIGINT/SIGTERM end it gracefully)."""
    server(settings, host, port, start_workers=start_workers).run()
