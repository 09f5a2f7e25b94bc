"""The server as a FastAPI app: ``create_app(settings)`` wires the routers, the store and the workers.

Why: one factory that tests, the benchmark and ``wishstar serve`` all call with their own settings, so each
app owns one store (opened once in the lifespan, closed at shutdown) and nothing is global. Errors become
JSON answers here: no stack trace ever reaches a client. Every route runs ``webhook.auth.authorize`` first,
and a route without a rule in ``webhook.access.ROUTE_RULES`` stops ``create_app`` (``RouteWithoutRule``).
Must not read settings at import time, open a store outside the lifespan, or hold run state in memory (a
second replica could not see it).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.datastructures import State

from wishstar.engine.spec.errors import WishstarError
from wishstar.engine.store.api import Store
from wishstar.engine.store.errors import AmbiguousRun, RunNotFound
from wishstar.pipelines.settings import Settings, get_settings
from wishstar.webhook.access import DOCUMENTATION_PATHS, missing_rules
from wishstar.webhook.auth import authorize
from wishstar.webhook.deps import Clock
from wishstar.webhook.routes import deployments, events, health, hooks, runs, tokens

log = logging.getLogger(__name__)

Stop = Callable[[], Awaitable[None]]


async def start_background_workers(state: State) -> Stop:
    """Start this replica's workers (events -> runs, runs driven under leases) and the status sender (outbox
    -> GitLab) on the server's event loop; the returned coroutine function stops both."""
    from wishstar.pipelines.catalogs import open_library
    from wishstar.webhook.outbox_worker import run_outbox
    from wishstar.webhook.worker import Worker, command_users_from_env

    stop_event = asyncio.Event()
    worker = Worker(state.store, state.settings, open_library(state.settings),
                    command_users=command_users_from_env(state.settings.command_users))
    loops = [asyncio.create_task(worker.serve(stop_event), name="wishstar-workers"),
             asyncio.create_task(run_outbox(state.store, state.settings, stop_event), name="wishstar-outbox")]

    async def _stop() -> None:
        stop_event.set()
        results = await asyncio.gather(*loops, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("background loop ended with %s", type(result).__name__, exc_info=result)

    return _stop


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    store = await run_in_threadpool(Store.open, settings.database_url, settings.state_dir)
    app.state.store = store
    app.state.write_gate = threading.Semaphore(1 if store.engine.dialect.name == "sqlite" else 16)
    stop = await start_background_workers(app.state) if app.state.start_workers else None
    try:
        yield
    finally:
        if stop is not None:
            await stop()
        store.close()


def _json_error(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handler(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status)
    return handler


async def _internal_error(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
    return JSONResponse({"detail": "internal error"}, status_code=500)


class RouteWithoutRule(Exception):
    """A route of the app has no entry in ``webhook.access.ROUTE_RULES`` (a bug: it would be unguarded)."""


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """``(method, path template)`` of every route the app serves, FastAPI's own pages aside."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            found += [(method, route.path) for method in sorted(route.methods or ())]
        elif context.path not in DOCUMENTATION_PATHS:
            found.append(("*", str(context.path)))
    return found


def check_rules(app: FastAPI) -> None:
    missing = missing_rules(api_routes(app))
    if missing:
        raise RouteWithoutRule(f"routes without an access rule in webhook.access.ROUTE_RULES: {missing}")


def create_app(settings: Settings | None = None, *, start_workers: bool = True,
               clock: Clock = time.time) -> FastAPI:
    """The Wishstar server. ``settings`` default to ``get_settings()``; ``start_workers=False`` only receives
    and serves the API (tests, or a receive-only replica); ``clock`` stamps received events."""
    app = FastAPI(title="Wishstar", summary="GitLab webhooks in, runs out, commit statuses back",
                  version="0.1.0", lifespan=_lifespan, dependencies=[Depends(authorize)])
    app.state.settings = settings if settings is not None else get_settings()
    app.state.start_workers = start_workers
    app.state.clock = clock
    for module in (hooks, runs, deployments, events, tokens, health):
        app.include_router(module.router)
    check_rules(app)
    app.add_exception_handler(RunNotFound, _json_error(404))
    app.add_exception_handler(AmbiguousRun, _json_error(409))
    app.add_exception_handler(WishstarError, _json_error(400))
    app.add_exception_handler(Exception, _internal_error)
    return app
