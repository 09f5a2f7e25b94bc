"""A thin client over python-gitlab for the few GitLab API calls Wishstar makes.

Why: the outbox sender and ``wishstar projects`` need commit statuses, project hooks, project look-ups and
merge-request notes, and they need GitLab's failures sorted into two kinds: ``RetryableGitLabError`` (5xx,
429, timeouts, refused connections: try again later) and ``PermanentGitLabError`` (401, 403, 404 and other
4xx: retrying cannot help). GitLab's 400 "Cannot transition status via :run from :running" on a repeated
state is neither: the status is already there, so ``post_status`` treats it as done.

Must not retry by itself (the outbox owns retries and their backoff), log, or put the token in any message.
API reference: https://docs.gitlab.com/api/commits/#set-the-pipeline-status-of-a-commit ,
https://docs.gitlab.com/api/project_webhooks/ , https://docs.gitlab.com/api/notes/#merge-requests .
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import gitlab
import requests
from gitlab import exceptions as gl_errors

from wishstar.engine.spec.errors import WishstarError

DEFAULT_TIMEOUT_S = 10.0
HOOK_EVENTS = ("push_events", "tag_push_events", "merge_requests_events", "note_events")
"""What a Wishstar hook subscribes to; everything else is off."""
_NO_TRANSITION = "cannot transition status"


class GitLabError(WishstarError):
    retryable = False
    code: int | None = None
    """GitLab's HTTP status, when it answered."""


class RetryableGitLabError(GitLabError):
    """GitLab is unavailable for now (5xx, 429, timeout, connection refused)."""

    retryable = True


class PermanentGitLabError(GitLabError):
    """GitLab refused the request for a reason retrying cannot fix (token, permissions, missing object)."""


@dataclass(frozen=True)
class RemoteProject:
    id: int
    path_with_namespace: str
    http_url_to_repo: str | None


@dataclass(frozen=True)
class RemoteHook:
    id: int
    url: str


_HINTS = {
    401: "GitLab rejected the API token (401): check that it is valid and not expired",
    403: "the API token may not do this (403): it needs the api scope and at least the Maintainer role",
    404: "not found (404): check the project path or id, and that the token can see the project",
}


class GitLabClient:
    """One GitLab instance, one token. Calls block; run them in a thread from async code."""

    def __init__(self, url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._gl = gitlab.Gitlab(self.url, private_token=token, timeout=timeout, retry_transient_errors=False)

    def post_status(self, project_id: int, sha: str, *, state: str, name: str, target_url: str | None = None,
                    description: str | None = None, ref: str | None = None) -> bool:
        """Set a commit status; False when GitLab already has this state (a repeated state is a no-op)."""
        data: dict[str, Any] = {"state": state, "name": name}
        for key, value in (("target_url", target_url), ("description", description), ("ref", ref)):
            if value:
                data[key] = value
        try:
            with self._errors(f"posting status {name}={state} on {sha[:12]}"):
                commit = self._gl.projects.get(project_id, lazy=True).commits.get(sha, lazy=True)
                commit.statuses.create(data)
        except PermanentGitLabError as exc:
            if exc.code == 400 and _NO_TRANSITION in str(exc).lower():
                return False
            raise
        return True

    def get_project(self, ref: int | str) -> RemoteProject:
        """A project by numeric id or by path (``group/app``)."""
        with self._errors(f"looking up project {ref}"):
            project = self._gl.projects.get(ref)
        attrs = project.attributes
        return RemoteProject(id=int(attrs["id"]), path_with_namespace=str(attrs["path_with_namespace"]),
                             http_url_to_repo=attrs.get("http_url_to_repo"))

    def create_hook(self, project_id: int, url: str, secret: str) -> int:
        """A project hook for push, tag push, merge request and note events, with SSL verification on."""
        data: dict[str, Any] = {"url": url, "token": secret, "enable_ssl_verification": True}
        data.update({event: True for event in HOOK_EVENTS})
        data.update({"issues_events": False, "job_events": False, "pipeline_events": False,
                     "wiki_page_events": False})
        with self._errors(f"creating the webhook on project {project_id}"):
            hook = self._gl.projects.get(project_id, lazy=True).hooks.create(data)
        return int(hook.get_id())  # type: ignore[arg-type]

    def list_hooks(self, project_id: int) -> list[RemoteHook]:
        with self._errors(f"listing the webhooks of project {project_id}"):
            hooks = self._gl.projects.get(project_id, lazy=True).hooks.list(get_all=True)
        return [RemoteHook(id=int(h.attributes["id"]), url=str(h.attributes["url"])) for h in hooks]

    def delete_hook(self, project_id: int, hook_id: int) -> bool:
        """Delete a hook; False when it was already gone."""
        try:
            with self._errors(f"deleting webhook {hook_id} of project {project_id}"):
                self._gl.projects.get(project_id, lazy=True).hooks.delete(hook_id)
        except PermanentGitLabError as exc:
            if exc.code == 404:
                return False
            raise
        return True

    def upsert_mr_note(self, project_id: int, mr_iid: int, note_id: int | None, body: str) -> int:
        """Update note ``note_id`` in place, or create one (also when the old note was deleted); its id."""
        mr = self._gl.projects.get(project_id, lazy=True).mergerequests.get(mr_iid, lazy=True)
        if note_id is not None:
            try:
                with self._errors(f"updating note {note_id} on merge request !{mr_iid}"):
                    mr.notes.update(note_id, {"body": body})
                return note_id
            except PermanentGitLabError as exc:
                if exc.code != 404:
                    raise
        with self._errors(f"adding a note to merge request !{mr_iid}"):
            note = mr.notes.create({"body": body})
        return int(note.get_id())  # type: ignore[arg-type]

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """python-gitlab's and requests' exceptions as ours, with a message that never holds the token."""
        try:
            yield
        except requests.Timeout:
            raise RetryableGitLabError(self._clean(f"{action}: GitLab did not answer within "
                                                   f"{self._timeout:g}s")) from None
        except requests.ConnectionError as exc:
            raise RetryableGitLabError(self._clean(f"{action}: cannot reach GitLab at {self.url} "
                                                   f"({type(exc).__name__})")) from None
        except gl_errors.GitlabError as exc:
            raise self._classify(action, exc) from None

    def _classify(self, action: str, exc: gl_errors.GitlabError) -> GitLabError:
        code = exc.response_code
        detail = str(exc.error_message)[:300]
        if code is not None and (code >= 500 or code == 429):
            error: GitLabError = RetryableGitLabError(self._clean(f"{action}: GitLab answered {code} {detail}"))
        elif code in _HINTS:
            error = PermanentGitLabError(self._clean(f"{action}: {_HINTS[code]}"))
        else:
            error = PermanentGitLabError(self._clean(f"{action}: GitLab answered {code} {detail}"))
        error.code = code
        return error

    def _clean(self, message: str) -> str:
        return message.replace(self._token, "***") if self._token else message

