"""FastAPI dependencies: the app's settings, its store and its clock, as ``Annotated`` aliases for routes.

Why: routes take what they need as parameters (``store: StoreDep``) instead of reaching for globals, so a test
builds an app with its own settings and store and nothing leaks between apps. Everything here reads
``request.app.state``, filled by ``webhook.app.create_app`` and its lifespan. Must not create settings or open
stores itself: there is no module-level instance of either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated, cast

from fastapi import Depends, Request

from wishstar.engine.store.api import Store
from wishstar.pipelines.settings import Settings

Clock = Callable[[], float]


def app_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def app_store(request: Request) -> Store:
    return cast(Store, request.app.state.store)


def app_clock(request: Request) -> Clock:
    return cast(Clock, request.app.state.clock)


def app_write_gate(request: Request) -> threading.Semaphore:
    """Bounds concurrent writes: on SQLite one at a time, so threads queue on a lock instead of backing off
    in SQLite's busy handler (which sleeps up to 100 ms per try and makes the latency tail)."""
    return cast(threading.Semaphore, request.app.state.write_gate)


SettingsDep = Annotated[Settings, Depends(app_settings)]
StoreDep = Annotated[Store, Depends(app_store)]
ClockDep = Annotated[Clock, Depends(app_clock)]
WriteGateDep = Annotated[threading.Semaphore, Depends(app_write_gate)]
