"""``/api/tokens``: the API tokens, for an admin of every project: list them (never the tokens), revoke one.

Why: a leaked token must be revocable from wherever the admin is, not only on the server's machine. Creating
tokens stays with ``wishstar tokens create`` run against the database (the first one has to be made that
way anyway, and a token is then shown once, to the operator who made it). Must not return or log a token.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from wishstar.engine.store.shape import iso
from wishstar.engine.store.tokens import ApiTokens, TokenNotFound, TokenRecord
from wishstar.webhook.audit import audit
from wishstar.webhook.auth import AccessDep
from wishstar.webhook.deps import ClockDep, StoreDep

router = APIRouter(prefix="/api/tokens", tags=["tokens"])


class TokenOut(BaseModel):
    name: str
    scopes: list[str]
    projects: list[str] | None = Field(description="project paths it is limited to; null: every project")
    state: str = Field(description="active, expired or revoked")
    created_at: str | None
    created_by: str | None
    expires_at: str | None = Field(description="null: never")
    last_used_at: str | None
    revoked_at: str | None


def token_out(record: TokenRecord, now: float) -> TokenOut:
    return TokenOut(name=record.name, scopes=list(record.scopes),
                    projects=list(record.projects) if record.projects is not None else None,
                    state=record.state(now), created_at=iso(record.created_at), created_by=record.created_by,
                    expires_at=iso(record.expires_at), last_used_at=iso(record.last_used_at),
                    revoked_at=iso(record.revoked_at))


@router.get("", response_model=list[TokenOut])
def list_tokens(store: StoreDep, clock: ClockDep) -> list[TokenOut]:
    """Every token with its scopes, projects, dates and state."""
    now = clock()
    return [token_out(r, now) for r in ApiTokens(store).list()]


@router.delete("/{name}", response_model=TokenOut)
async def revoke_token(request: Request, store: StoreDep, clock: ClockDep, access: AccessDep, name: str) -> TokenOut:
    """Revoke one token at once (safe to repeat); requests with it get 401 from then on."""
    now = clock()
    try:
        record = await run_in_threadpool(ApiTokens(store).revoke, name, now)
    except TokenNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    who = access.principal.name if access.principal is not None else None
    source = request.client.host if request.client is not None else None
    audit("token_revoked", who=who, what=f"revoke {name}", source=source, token=name, level=logging.INFO)
    return token_out(record, now)
