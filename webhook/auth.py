"""The dependency every API route runs first: who is calling (a bearer API token), and whether the route's
rule (``webhook.access.ROUTE_RULES``) lets them.

Why: one place answers 401 (no valid token: missing, unknown, expired, revoked, or a hook secret), 403 (a
valid token without the scope) and 404 (a run or event of a project the caller does not see, with the very
answer an unknown one gets), and logs every refusal to the audit log. It runs before the route parses its
query, so an unauthenticated caller learns nothing from a 422 either.

A limited caller's run reference is resolved among the runs it sees and replaced in the path parameters by
the full run id, so the route cannot trip over an id prefix shared with an invisible run (which would
otherwise answer 409 and list it). Must not log or echo a token; must not make a route's decisions other
than access (filtering a list is the route's, with ``Access.projects``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, NoReturn

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from wishstar.engine.store.errors import AmbiguousRun, DatabaseError, RunNotFound
from wishstar.engine.store.tokens import ApiTokens
from wishstar.engine.store.visibility import event_exists, event_project, resolve_visible, run_project
from wishstar.webhook.access import ANONYMOUS_READER, Principal, Rule, refusal, rule_for, token_principal
from wishstar.webhook.audit import audit
from wishstar.webhook.deps import app_clock, app_settings, app_store, app_write_gate

_REALM = 'Bearer realm="wishstar"'


@dataclass(frozen=True)
class Access:
    """What the dependency hands a route: the principal (None for open and hook routes) and the project
    paths it sees (None: every project)."""

    principal: Principal | None
    projects: frozenset[str] | None

    @property
    def every_project(self) -> bool:
        return self.projects is None


PUBLIC = Access(None, None)


def _client(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


def _route_key(request: Request) -> tuple[str, str]:
    route = request.scope.get("route")
    return request.method, str(getattr(route, "path", request.url.path))


def _refuse(request: Request, status: int, detail: str, who: str | None, reason: str) -> NoReturn:
    method, path = _route_key(request)
    audit("request_refused", who=who, what=f"{method} {path}", source=_client(request), status=status,
          reason=reason)
    headers = None
    if status == 401:
        headers = {"WWW-Authenticate": _REALM if reason == "no token" else f'{_REALM}, error="invalid_token"'}
    raise HTTPException(status, detail, headers=headers)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _authenticate(request: Request, rule: Rule) -> Principal:
    token = _bearer(request)
    if token is None and rule.scope == "read" and app_settings(request).api_read == "open":
        return ANONYMOUS_READER
    if not token:
        _refuse(request, 401, "an API token is required (header Authorization: Bearer TOKEN; hint: "
                "`wishstar tokens create`)", None, "no token")
    store = app_store(request)
    record = ApiTokens(store).authenticate(token)
    if record is None:
        _refuse(request, 401, "invalid API token", None, "unknown token")
    now = app_clock(request)()
    state = record.state(now)
    if state != "active":
        _refuse(request, 401, f'the API token "{record.name}" is {state} (hint: ask an admin for a new one)',
                record.name, f"{state} token")
    with app_write_gate(request):
        ApiTokens(store).touch(record, now)
    return token_principal(record.name, record.scopes, record.projects)


def _check_run(request: Request, rule: Rule, principal: Principal, param: str) -> None:
    store = app_store(request)
    ref = request.path_params[param]
    seen = principal.visible_projects()
    try:
        run_id = store.resolve(ref) if seen is None else resolve_visible(store, ref, seen)
    except RunNotFound:
        if seen is not None and _exists(request, ref):
            audit("request_refused", who=principal.name, what=" ".join(_route_key(request)),
                  source=_client(request), status=404, reason="a run of a project the token does not see")
        raise
    if seen is not None and rule.scope is not None and rule.scope not in principal.scopes_on(
            run_project(store, run_id)):
        _refuse(request, 403, f'this needs the "{rule.scope}" scope on this run\'s project', principal.name,
                "scope missing on the project")
    request.scope["path_params"][param] = run_id


def _exists(request: Request, ref: str) -> bool:
    try:
        app_store(request).resolve(ref)
    except (RunNotFound, AmbiguousRun):
        return False
    return True


def _check_event(request: Request, principal: Principal, param: str) -> None:
    seen = principal.visible_projects()
    if seen is None:
        return
    event_id = request.path_params[param]
    store = app_store(request)
    if event_project(store, event_id) not in seen:
        if event_exists(store, event_id):
            audit("request_refused", who=principal.name, what=" ".join(_route_key(request)),
                  source=_client(request), status=404, reason="an event of a project the token does not see")
        raise HTTPException(404, f'no event "{event_id}"')


def _check_project(request: Request, rule: Rule, principal: Principal, param: str) -> None:
    """A project named in the path: 404 when the caller does not see it (as an unknown one), 403 when it
    sees it without the rule's scope there."""
    project = request.path_params[param]
    if not principal.sees(project):
        audit("request_refused", who=principal.name, what=" ".join(_route_key(request)), source=_client(request),
              status=404, reason="a project the token does not see")
        raise HTTPException(404, f'no project "{project}" (hint: `wishstar projects list`)')
    if rule.scope is not None and rule.scope not in principal.scopes_on(project):
        _refuse(request, 403, f'this needs the "{rule.scope}" scope on project {project}', principal.name,
                "scope missing on the project")


async def authorize(request: Request) -> Access:
    """The app-wide dependency: apply the route's rule or refuse (see the module docstring). Open and hook
    routes pass at once, on the event loop (the receiver's latency); token routes read the store in a
    worker thread."""
    method, path = _route_key(request)
    rule = rule_for(method, path)
    if rule is None:  # create_app refuses to start with such a route; fail closed all the same
        _refuse(request, 403, "this route has no access rule", None, "no rule")
    if rule.kind != "token":
        return PUBLIC
    try:
        return await run_in_threadpool(_authorize_token, request, rule)
    except DatabaseError:
        raise HTTPException(503, "the database does not answer; retry later") from None


def _authorize_token(request: Request, rule: Rule) -> Access:
    principal = _authenticate(request, rule)
    if rule.scope == "read" and app_settings(request).api_read == "open":
        return Access(principal, None)  # reading is open to all: a valid token never sees less than nobody
    why = refusal(rule, principal)
    if why is not None:
        _refuse(request, 403, why, principal.name, "scope missing")
    if rule.run is not None:
        _check_run(request, rule, principal, rule.run)
    if rule.event is not None:
        _check_event(request, principal, rule.event)
    if rule.project is not None:
        _check_project(request, rule, principal, rule.project)
    return Access(principal, principal.visible_projects())


AccessDep = Annotated[Access, Depends(authorize)]
