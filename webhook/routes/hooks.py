"""``POST /hooks/gitlab``: GitLab deliveries in, stored durably, answered quickly.

Why: GitLab waits at most 10 s and disables a hook after four failures in a row, and every accepted delivery
must become exactly one event that workers can claim from any replica. So the receiver authenticates the
sender (the project's hook secret, compared in constant time), reads the body with a hard cap, classifies it
(a pure function), and stores it with a delivery key that makes redeliveries no-ops, all before it answers.
Must not clone, fetch, compile or run anything, keep events in memory, or answer 4xx/5xx to an authenticated
delivery merely because Wishstar does not handle its kind. Answers are JSON; a stack trace never leaves here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from wishstar.engine.store.api import Store
from wishstar.engine.store.errors import DatabaseError
from wishstar.engine.store.server import Events, Project, Projects
from wishstar.webhook.deps import ClockDep, SettingsDep, StoreDep, WriteGateDep
from wishstar.webhook.gitlab_events import GitEvent, Ignored, Skipped, classify, project_gitlab_id, project_path

router = APIRouter(tags=["hooks"])

_DUMMY_SECRET = secrets.token_urlsafe(32)
"""Compared against when the project is unknown, so response time does not tell which projects exist."""

_HEADER_KINDS = {"Push Hook": "push", "Tag Push Hook": "tag", "Merge Request Hook": "merge_request",
                 "Note Hook": "note", "System Hook": "system"}
_MAX_KEY = 128


class HookReply(BaseModel):
    """What the receiver answers: ``accepted`` (202), or 200 with ``duplicate``, ``skipped`` or ``ignored``."""

    status: Literal["accepted", "duplicate", "skipped", "ignored"]
    event: str | None = Field(default=None, description="the stored event's id (the first one for duplicates)")
    duplicate: bool | None = Field(default=None, description="true when this delivery was already stored")
    reason: str | None = Field(default=None, description="why a skipped or ignored event starts nothing")


class ErrorReply(BaseModel):
    detail: str


class BodyTooLarge(Exception):
    """The body went past the limit while being read."""


class Unauthorized(Exception):
    """Wrong or missing token, or no registered project: 401, nothing stored."""


async def read_capped(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The body, read chunk by chunk; stops (``BodyTooLarge``) as soon as it passes ``limit``, so at most
    ``limit`` plus one chunk is ever held."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


def delivery_key(project_id: int, header: str | None, idempotency_key: str | None, body: bytes) -> str:
    """The key that makes a redelivery a no-op (see docs/server.md, "Deduplication").

    GitLab 17.4+ sends ``Idempotency-Key``, the same across automatic retries and manual resends. Without it,
    the SHA-256 of the event header and the raw body: a retry or resend carries the identical body. Not
    ``X-Gitlab-Event-UUID``, which recursive webhooks share. Scoped by project so that one project's sender
    can never pre-empt another project's delivery.
    """
    if idempotency_key and idempotency_key.strip():
        key = idempotency_key.strip()
        if len(key) > _MAX_KEY or not key.isprintable():
            key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        return f"idem:{project_id}:{key}"
    digest = hashlib.sha256((header or "").encode() + b"\n" + body).hexdigest()
    return f"body:{project_id}:{digest}"


@dataclass(frozen=True)
class Delivery:
    header: str | None
    token: str
    instance: str | None
    idempotency_key: str | None
    body: bytes
    payload: Any


def find_project(projects: Projects, payload: Any, instance: str | None) -> Project | None:
    """The project a delivery names: GitLab id and instance; else ``path_with_namespace``, when that project
    has the same GitLab id (the instance URL may be spelled differently behind a proxy)."""
    if not isinstance(payload, Mapping):
        return None
    gitlab_id, path = project_gitlab_id(payload), project_path(payload)
    if gitlab_id is not None:
        found = projects.find(gitlab_id=gitlab_id, gitlab_url=instance)
        if found is not None:
            return found
    by_path = projects.find(path=path) if path is not None else None
    if by_path is not None and gitlab_id is not None and by_path.gitlab_id != gitlab_id:
        return None
    return by_path


def token_matches(project: Project | None, token: str) -> bool:
    expected = project.hook_secret if project is not None else _DUMMY_SECRET
    matches = hmac.compare_digest(token.encode(), expected.encode())
    return matches and project is not None


def _interpret(header: str | None, payload: Mapping[str, Any]) -> GitEvent | Ignored | Skipped:
    try:
        return classify(header, payload)
    except Exception as exc:  # classify is written not to raise; a bug must still not fail the delivery
        return Ignored(f"unreadable {header} payload ({type(exc).__name__})")


def store_delivery(store: Store, delivery: Delivery, now: float,
                   gate: threading.Semaphore | None = None) -> tuple[int, HookReply]:
    """Authenticate, classify and store one delivery (runs in a worker thread: the store is synchronous)."""
    project = find_project(Projects(store), delivery.payload, delivery.instance)
    if not token_matches(project, delivery.token) or project is None:
        raise Unauthorized
    result = _interpret(delivery.header, delivery.payload)
    kind = _HEADER_KINDS.get(delivery.header or "", "other")
    status, reason = "pending", None
    if isinstance(result, GitEvent):
        kind = result.kind
    elif isinstance(result, Skipped):
        status, reason = "skipped", result.reason
        kind = result.event.kind if result.event is not None else kind
    else:
        status, reason = "ignored", result.reason
    key = delivery_key(project.id, delivery.header, delivery.idempotency_key, delivery.body)
    with gate or threading.Semaphore():
        event_id, duplicate = Events(store).add(
            delivery_key=key, kind=kind, header=(delivery.header or "")[:100] or None, payload=delivery.payload,
            project_id=project.id, now=now, status=status, reason=reason)
    if duplicate:
        return 200, HookReply(status="duplicate", event=event_id, duplicate=True)
    if status == "pending":
        return 202, HookReply(status="accepted", event=event_id)
    return 200, HookReply(status="skipped" if status == "skipped" else "ignored", event=event_id, reason=reason)


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise ValueError("the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


_OPENAPI_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "a GitLab webhook payload"}}}}}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": HookReply, "description": "duplicate, skipped or ignored (stored, starts nothing new)"},
    400: {"model": ErrorReply, "description": "malformed JSON"},
    401: {"model": ErrorReply, "description": "wrong or missing token, or unknown project; nothing stored"},
    413: {"model": ErrorReply, "description": "body over max_body_bytes"},
    503: {"model": ErrorReply, "description": "the event could not be stored; GitLab will retry"},
}


@router.post("/hooks/gitlab", status_code=202, response_model=HookReply, response_model_exclude_none=True,
             responses=_RESPONSES, openapi_extra=_OPENAPI_BODY)
async def receive_gitlab(
    request: Request, settings: SettingsDep, store: StoreDep, clock: ClockDep, gate: WriteGateDep,
    x_gitlab_event: Annotated[str | None, Header()] = None,
    x_gitlab_token: Annotated[str | None, Header()] = None,
    x_gitlab_instance: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Store one GitLab delivery and say what became of it."""
    if not x_gitlab_token:
        return _error(401, "missing X-Gitlab-Token")
    limit = settings.max_body_bytes
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        return _error(413, f"body over {limit} bytes")
    try:
        body = await read_capped(request.stream(), limit)
        payload = _parse(body)
    except BodyTooLarge:
        return _error(413, f"body over {limit} bytes")
    except ValueError as exc:
        return _error(400, str(exc))
    delivery = Delivery(x_gitlab_event, x_gitlab_token, x_gitlab_instance, idempotency_key, body, payload)
    try:
        code, reply = await run_in_threadpool(store_delivery, store, delivery, clock(), gate)
    except Unauthorized:
        return _error(401, "wrong token or unknown project")
    except DatabaseError:
        return _error(503, "the event could not be stored; retry later")
    return JSONResponse(reply.model_dump(exclude_none=True), status_code=code)
