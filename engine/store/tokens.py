"""The server's API tokens: issued once, stored hashed, looked up by their public id, revoked one at a time.

Why: the REST API changes state (cancel) and serves logs, and the server faces the network GitLab reaches, so
every caller presents a token (``docs/server.md``, "Who may use the API"). A token reads
``wst_<id>_<secret>``: the id (random, not secret) finds the row with an indexed read that does not depend on
the secret; the secret (256 random bits) is compared as its SHA-256 with ``hmac.compare_digest``. A high-
entropy random secret needs no slow password hash. The ``wst_`` prefix tells an API token from a webhook's
hook secret, so neither is ever accepted in the other's place, and lets secret scanners spot a leaked one.

Must not store, return after creation, or log the token or its secret; must not read the clock (callers
pass epoch seconds) or decide what a token may do (``webhook.access`` does).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, insert, null, or_, select, update
from sqlalchemy.exc import IntegrityError

from wishstar.engine.spec.errors import WishstarError
from wishstar.engine.store import db
from wishstar.engine.store.api import Store
from wishstar.engine.store.models import API_TOKEN_SCOPES, api_tokens

TOKEN_PREFIX = "wst_"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_TOKEN = re.compile(r"wst_([0-9a-f]{16})_([A-Za-z0-9_-]{20,200})")
_DUMMY_HASH = hashlib.sha256(b"no such token").hexdigest()
TOUCH_EVERY = 60.0
"""``last_used_at`` is written at most once a minute per token: a busy client must not turn reads into writes."""

TokenState = Literal["active", "expired", "revoked"]


class TokenError(WishstarError):
    """A token name, scope or lifetime that cannot be used, or a token that does not exist."""


class TokenNotFound(TokenError):
    def __init__(self, name: str) -> None:
        super().__init__(f'no API token named "{name}" (hint: `wishstar tokens list`)')


class TokenExists(TokenError):
    def __init__(self, name: str) -> None:
        super().__init__(f'an API token named "{name}" is still valid (hint: pick another name, or '
                         f'`wishstar tokens revoke {name}` first)')


@dataclass(frozen=True)
class TokenRecord:
    """What is known about a token; never its secret."""

    id: str
    name: str
    scopes: tuple[str, ...]
    projects: tuple[str, ...] | None
    """Project paths (``group/app``) the token is limited to; None: every project."""
    created_at: float
    created_by: str | None
    expires_at: float | None
    last_used_at: float | None
    revoked_at: float | None

    def state(self, now: float) -> TokenState:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def looks_like_api_token(value: str) -> bool:
    """Whether ``value`` has an API token's shape (the hook receiver refuses such values as hook secrets)."""
    return value.startswith(TOKEN_PREFIX)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise TokenError(f'token name "{name}": use letters, digits, ".", "_" and "-" (at most 100, starting '
                         "with a letter or digit)")
    return name


def check_scopes(scopes: list[str]) -> tuple[str, ...]:
    if not scopes:
        raise TokenError(f"a token needs at least one --scope ({', '.join(API_TOKEN_SCOPES)})")
    for scope in scopes:
        if scope not in API_TOKEN_SCOPES:
            raise TokenError(f'unknown scope "{scope}" (expected one of: {", ".join(API_TOKEN_SCOPES)})')
    return tuple(s for s in API_TOKEN_SCOPES if s in scopes)


def _record(row: object) -> TokenRecord:
    data = dict(row._mapping)  # type: ignore[attr-defined]
    projects = data["projects"]
    return TokenRecord(id=data["id"], name=data["name"], scopes=tuple(data["scopes"]),
                       projects=tuple(projects) if projects is not None else None, created_at=data["created_at"],
                       created_by=data["created_by"], expires_at=data["expires_at"],
                       last_used_at=data["last_used_at"], revoked_at=data["revoked_at"])


_COLUMNS = [c for c in api_tokens.c if c.name != "secret_sha256"]


class ApiTokens:
    """The ``api_tokens`` table."""

    def __init__(self, store: Store) -> None:
        self._engine = store.engine

    def create(self, name: str, scopes: list[str], projects: list[str] | None, *, now: float,
               expires_at: float | None, created_by: str | None = None) -> tuple[TokenRecord, str]:
        """A new token: its record and the token itself, which exists nowhere else afterwards. The name of
        a revoked or expired token may be reused (that token is forgotten); a valid one's may not."""
        check_name(name)
        scope_set = check_scopes(scopes)
        token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        values = {"id": token_id, "name": name, "secret_sha256": _hash(secret), "scopes": list(scope_set),
                  "projects": sorted(set(projects)) if projects is not None else null(),  # SQL NULL, not JSON null
                  "created_at": now, "created_by": created_by, "expires_at": expires_at, "last_used_at": None,
                  "revoked_at": None}
        try:
            with db.write(self._engine) as conn:
                conn.execute(delete(api_tokens).where(
                    api_tokens.c.name == name,
                    or_(api_tokens.c.revoked_at.is_not(None), api_tokens.c.expires_at <= now)))
                conn.execute(insert(api_tokens).values(**values))
        except IntegrityError:
            raise TokenExists(name) from None
        return self.get(name), f"{TOKEN_PREFIX}{token_id}_{secret}"

    def authenticate(self, token: str) -> TokenRecord | None:
        """The record of the token whose secret matches, whatever its state (the caller checks expiry and
        revocation with its own clock, to say which); None for anything else. The secret's hash is compared
        in constant time, also against a dummy when the id is unknown."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        token_id, secret = match.groups()
        with db.read(self._engine) as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        expected = row.secret_sha256 if row is not None else _DUMMY_HASH
        if not hmac.compare_digest(_hash(secret).encode(), expected.encode()) or row is None:
            return None
        return _record(row)

    def touch(self, record: TokenRecord, now: float) -> None:
        """Note that the token was used (at most every ``TOUCH_EVERY`` seconds)."""
        if record.last_used_at is not None and now - record.last_used_at < TOUCH_EVERY:
            return
        with db.write(self._engine) as conn:
            conn.execute(update(api_tokens).where(api_tokens.c.id == record.id).values(last_used_at=now))

    def get(self, name: str) -> TokenRecord:
        with db.read(self._engine) as conn:
            row = conn.execute(select(*_COLUMNS).where(api_tokens.c.name == name)).first()
        if row is None:
            raise TokenNotFound(name)
        return _record(row)

    def list(self) -> list[TokenRecord]:
        with db.read(self._engine) as conn:
            rows = conn.execute(select(*_COLUMNS).order_by(api_tokens.c.name)).all()
        return [_record(r) for r in rows]

    def revoke(self, name: str, now: float) -> TokenRecord:
        """Revoke one token by name; revoking it again changes nothing."""
        with db.write(self._engine) as conn:
            conn.execute(update(api_tokens).where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
                         .values(revoked_at=now))
        return self.get(name)
