"""Who may do what on the server's API: scopes, principals with per-project grants, and the rule of every route.

Why: one table says, for each route (method and path template), what a caller needs; ``webhook.auth`` applies
it to every request and ``webhook.app`` refuses to start when a route has no rule, so a new route cannot be
left open by forgetting it (a test walks the OpenAPI document against this table too).

The model is a ``Principal`` holding *grants*: for a project path (``group/app``), or for every project
(``None``), a set of scopes. An API token grants its scopes on each project it names (or on every project). A
later GitLab login (OAuth/OIDC) builds a principal the same way from the user's project memberships, for
example Reporter -> ``read``, Developer -> ``read``, ``trigger``, ``operate``, Maintainer -> all four, with a
different set per project: nothing else here changes. Scopes do not imply each other.

A caller who holds no grant on a project does not see it: its runs and events are "not found" (404), as in
GitLab. A caller who sees a project but lacks the scope gets 403. Pure: no I/O, no clock, no settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from wishstar.engine.store.models import API_TOKEN_SCOPES

Scope = Literal["read", "trigger", "operate", "admin"]
SCOPES: tuple[str, ...] = API_TOKEN_SCOPES
SCOPE_MEANING = {"read": "runs, tasks, logs and events", "trigger": "start runs",
                 "operate": "cancel, retry and resume runs", "admin": "projects and tokens"}

EVERY_PROJECT = None


@dataclass(frozen=True)
class Principal:
    """Who is calling: a name for the audit log and what it may do where."""

    name: str
    kind: Literal["token", "anonymous"]
    grants: Mapping[str | None, frozenset[str]] = field(default_factory=dict)
    """Project path -> scopes; the key ``None`` (``EVERY_PROJECT``) grants on every project."""

    def scopes_on(self, project: str | None) -> frozenset[str]:
        """The scopes held on ``project`` (None: a run of no project, which only every-project grants cover)."""
        scopes = self.grants.get(EVERY_PROJECT, frozenset())
        if project is not None:
            scopes = scopes | self.grants.get(project, frozenset())
        return scopes

    def holds(self, scope: str) -> bool:
        """Whether the scope is held on at least one project."""
        return any(scope in scopes for scopes in self.grants.values())

    def holds_everywhere(self, scope: str) -> bool:
        return scope in self.grants.get(EVERY_PROJECT, frozenset())

    def sees(self, project: str | None) -> bool:
        return bool(self.scopes_on(project))

    def visible_projects(self) -> frozenset[str] | None:
        """The project paths this principal sees; None when it sees every project."""
        if self.grants.get(EVERY_PROJECT):
            return None
        return frozenset(p for p, scopes in self.grants.items() if p is not None and scopes)


def token_principal(name: str, scopes: tuple[str, ...], projects: tuple[str, ...] | None) -> Principal:
    granted = frozenset(scopes)
    if projects is None:
        return Principal(name, "token", {EVERY_PROJECT: granted})
    return Principal(name, "token", {project: granted for project in projects})


ANONYMOUS_READER = Principal("anonymous", "anonymous", {EVERY_PROJECT: frozenset({"read"})})
"""Who reads when ``api_read = "open"`` and no token is given."""


@dataclass(frozen=True)
class Rule:
    """What a route needs.

    ``open``: anyone (health). ``hook``: the route authenticates its sender itself (webhooks, with the
    project's hook secret; API tokens are refused there). ``token``: a valid API token holding ``scope``, on
    the project of the run named by the path parameter ``run`` (or of the event named by ``event``, or the
    project whose path is the path parameter ``project``), or on every project when ``every_project``. A
    ``read`` rule is open to anyone when the ``api_read`` setting is ``open``.
    """

    kind: Literal["open", "hook", "token"]
    scope: Scope | None = None
    run: str | None = None
    event: str | None = None
    project: str | None = None
    every_project: bool = False

    @property
    def changes_state(self) -> bool:
        return self.kind == "token" and self.scope != "read"


OPEN = Rule("open")
HOOK = Rule("hook")


def read(*, run: str | None = None, event: str | None = None, project: str | None = None) -> Rule:
    return Rule("token", "read", run=run, event=event, project=project)


ROUTE_RULES: dict[tuple[str, str], Rule] = {
    ("POST", "/hooks/gitlab"): HOOK,
    ("GET", "/healthz"): OPEN,
    ("GET", "/api/runs"): read(),
    ("GET", "/api/runs/{ref}"): read(run="ref"),
    ("GET", "/api/runs/{ref}/logs/{task}"): read(run="ref"),
    ("POST", "/api/runs/{ref}/cancel"): Rule("token", "operate", run="ref"),
    ("GET", "/api/runs/{ref}/deployments"): read(run="ref"),
    ("GET", "/api/projects/{project}/deployments"): read(project="project"),
    ("GET", "/api/deployments"): read(),
    ("GET", "/api/events"): read(),
    ("GET", "/api/events/{event_id}"): read(event="event_id"),
    ("GET", "/api/tokens"): Rule("token", "admin", every_project=True),
    ("DELETE", "/api/tokens/{name}"): Rule("token", "admin", every_project=True),
}
"""Every API route's rule. A route missing here fails ``webhook.app.create_app`` and the permission tests."""

_CONVERTER = re.compile(r":[a-z]+}")
DOCUMENTATION_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
"""FastAPI's own pages, open to all: they describe the API and hold no data."""


def rule_for(method: str, path: str) -> Rule | None:
    """The rule of a route; ``path`` as the route declares it (a converter such as ``{project:path}`` is
    the parameter ``{project}``, as in the OpenAPI document)."""
    return ROUTE_RULES.get((method.upper(), _CONVERTER.sub("}", path)))


def missing_rules(routes: list[tuple[str, str]]) -> list[str]:
    """The ``METHOD path`` of every route without a rule."""
    return [f"{method} {path}" for method, path in routes if rule_for(method, path) is None]


def refusal(rule: Rule, principal: Principal) -> str | None:
    """Why ``principal`` may not use a route with ``rule`` at all (403), before any run is looked at; None
    when it may (it may still not see the run named: that is ``webhook.auth``'s 404)."""
    if rule.scope is None:
        return None
    if rule.every_project and not principal.holds_everywhere(rule.scope):
        return f'this needs a token with the "{rule.scope}" scope on every project'
    if not principal.holds(rule.scope):
        return f'this needs a token with the "{rule.scope}" scope ({SCOPE_MEANING[rule.scope]})'
    return None
