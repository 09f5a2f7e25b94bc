"""``/api/events``: the stored webhook deliveries, with what became of them (pending, skipped and why, ...).

Why: a push that started nothing must say why (branch deleted, ``[skip ci]``, an event Wishstar ignores), and
that answer lives in the events table. Must not return payloads here: they are untrusted and up to 25 MB.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from wishstar.engine.spec.errors import WishstarError
from wishstar.engine.status import EventStatus
from wishstar.engine.store.server import Events, StoredEvent
from wishstar.engine.store.shape import iso
from wishstar.engine.store.visibility import list_events_of
from wishstar.webhook.auth import AccessDep
from wishstar.webhook.deps import StoreDep

router = APIRouter(prefix="/api/events", tags=["events"])


class EventOut(BaseModel):
    id: str
    project_id: int | None
    kind: str
    header: str | None
    status: str
    reason: str | None
    received_at: str | None
    attempts: int
    run_id: str | None


def _out(event: StoredEvent) -> EventOut:
    return EventOut(id=event.id, project_id=event.project_id, kind=event.kind, header=event.header,
                    status=event.status, reason=event.reason, received_at=iso(event.received_at),
                    attempts=event.attempts, run_id=event.run_id)


@router.get("", response_model=list[EventOut])
def list_events(
    store: StoreDep, access: AccessDep, status: EventStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many, newest first")] = 50,
) -> list[EventOut]:
    """Stored deliveries, newest first, with their status and the reason when they start nothing (of the
    projects the caller sees)."""
    if access.projects is not None:
        return [_out(e) for e in list_events_of(store, access.projects, status=status, limit=limit)]
    return [_out(e) for e in Events(store).list(status=status, limit=limit)]


@router.get("/{event_id}", response_model=EventOut)
def show_event(store: StoreDep, event_id: str) -> EventOut:
    try:
        return _out(Events(store).get(event_id))
    except WishstarError as exc:
        raise HTTPException(404, str(exc)) from None
