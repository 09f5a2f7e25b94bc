"""GitLab webhook payloads as Wishstar events: which commit to build, on which ref, and what to skip. Pure.

Why: the receiver must decide, in microseconds and without touching git or the network, whether a delivery is
something to build (a ``GitEvent``), something handled that starts nothing (``Skipped``, with the reason that
users will see) or something Wishstar does not handle (``Ignored``). Keeping that decision a pure function of
the ``X-Gitlab-Event`` header and the JSON body makes it table-testable against GitLab's documented payloads.
Must not do I/O, read the clock, or raise on odd payloads: whatever GitLab (or anyone holding a hook secret)
sends ends as one of the three results, never as an exception (GitLab disables a hook after four failures).

GitLab documents the payloads at https://docs.gitlab.com/user/project/integrations/webhook_events/ ; the
samples in ../shared/conformance/gitlab/ are those documented payloads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

EventKind = Literal["push", "tag", "merge_request", "note"]

ZERO_SHA = "0" * 40
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_SKIP_CI = re.compile(r"\[(?:skip ci|ci skip)\]", re.IGNORECASE)
_COMMAND = re.compile(r"/wishstar[ \t]+(run|retry)[ \t]*")
_MR_BUILD_ACTIONS = ("open", "reopen")


@dataclass(frozen=True)
class GitEvent:
    """An event that may start pipelines. Every string here is untrusted: it reaches steps only as env."""

    kind: EventKind
    project_gitlab_id: int
    project_path: str
    clone_url: str
    sha: str
    """The commit to build: ``checkout_sha`` for tags, ``after`` for pushes, ``last_commit.id`` for MRs."""
    branch: str | None = None
    tag: str | None = None
    before: str | None = None
    message: str | None = None
    author: str | None = None
    changed_paths: tuple[str, ...] | None = None
    mr_iid: int | None = None
    mr_title: str | None = None
    target_branch: str | None = None
    source_branch: str | None = None
    from_fork: bool = False
    command: str | None = None
    """For notes: ``run`` or ``retry`` from ``/wishstar run`` / ``/wishstar retry``."""
    user: str | None = None


@dataclass(frozen=True)
class Ignored:
    """Not an event Wishstar handles (answered 2xx "ignored", never 4xx: GitLab disables failing hooks)."""

    reason: str


@dataclass(frozen=True)
class Skipped:
    """A handled event that starts nothing, with the reason recorded and shown (branch deletion, [skip ci])."""

    reason: str
    event: GitEvent | None = None


Result = GitEvent | Ignored | Skipped


# -- tolerant readers: a field of the wrong type reads as missing ---------------------------------------------

def _map(data: Any, key: str) -> Mapping[str, Any]:
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _str(data: Any, key: str) -> str | None:
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, str) else None


def _int(data: Any, key: str) -> int | None:
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _list(data: Any, key: str) -> Sequence[Any]:
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, list) else []


def _sha(value: str | None) -> str | None:
    return value if value is not None and _SHA.fullmatch(value) else None


def project_gitlab_id(payload: Mapping[str, Any]) -> int | None:
    """The GitLab project id a delivery names (``project.id``; System Hooks and notes also ``project_id``)."""
    return _int(_map(payload, "project"), "id") or _int(payload, "project_id")


def project_path(payload: Mapping[str, Any]) -> str | None:
    return _str(_map(payload, "project"), "path_with_namespace") or _str(payload, "path_with_namespace")


def _base(kind: EventKind, payload: Mapping[str, Any], sha: str) -> GitEvent | Ignored:
    pid = project_gitlab_id(payload)
    path = project_path(payload)
    project = _map(payload, "project")
    clone = _str(project, "git_http_url") or _str(_map(payload, "repository"), "git_http_url")
    if pid is None or path is None or clone is None:
        return Ignored(f"malformed {kind} payload: no project id, path or git_http_url")
    return GitEvent(kind=kind, project_gitlab_id=pid, project_path=path, clone_url=clone, sha=sha)


def _skip_ci(event: GitEvent) -> Result:
    marker = _SKIP_CI.search(event.message or "")
    if marker:
        return Skipped(f"{marker.group(0)} in the head commit's message", event)
    return event


# -- pushes and tags -------------------------------------------------------------------------------------------

def _head_commit(payload: Mapping[str, Any], after: str) -> Mapping[str, Any]:
    """The commit GitLab will build: the one whose id is ``after``, else the last listed."""
    commits = [c for c in _list(payload, "commits") if isinstance(c, Mapping)]
    for commit in commits:
        if commit.get("id") == after:
            return commit
    return commits[-1] if commits else {}


def _changed_paths(payload: Mapping[str, Any]) -> tuple[str, ...] | None:
    """Paths touched by the pushed commits; None (unknown) when GitLab listed only some of them (it caps the
    list at 20), so that path filters never skip a push on partial information."""
    commits = [c for c in _list(payload, "commits") if isinstance(c, Mapping)]
    total = _int(payload, "total_commits_count")
    if total is not None and total > len(commits):
        return None
    paths = {p for c in commits for key in ("added", "modified", "removed")
             for p in _list(c, key) if isinstance(p, str)}
    return tuple(sorted(paths))


def _push_option_skip(payload: Mapping[str, Any]) -> bool:
    """``git push -o ci.skip`` arrives as ``push_options: {"ci": {"skip": true}}``."""
    return bool(_map(_map(payload, "push_options"), "ci").get("skip"))


def _push(payload: Mapping[str, Any]) -> Result:
    ref = _str(payload, "ref") or ""
    if not ref.startswith("refs/heads/"):
        return Ignored(f"push to {ref or 'no ref'} is not a branch push")
    branch = ref.removeprefix("refs/heads/")
    after = _str(payload, "after")
    if after == ZERO_SHA:
        return Skipped("branch deleted")
    sha = _sha(after)
    if sha is None:
        return Ignored("malformed push payload: 'after' is not a commit id")
    base = _base("push", payload, sha)
    if isinstance(base, Ignored):
        return base
    head = _head_commit(payload, sha)
    author = _str(_map(head, "author"), "name") or _str(payload, "user_name")
    event = replace(base, branch=branch, before=_sha(_str(payload, "before")), message=_str(head, "message"),
                    author=author, changed_paths=_changed_paths(payload), user=_str(payload, "user_username"))
    if _push_option_skip(payload):
        return Skipped("push option ci.skip", event)
    return _skip_ci(event)


def _tag_push(payload: Mapping[str, Any]) -> Result:
    ref = _str(payload, "ref") or ""
    if not ref.startswith("refs/tags/"):
        return Ignored(f"tag push to {ref or 'no ref'} is not a tag")
    tag = ref.removeprefix("refs/tags/")
    checkout = _str(payload, "checkout_sha")
    if _str(payload, "after") == ZERO_SHA or checkout is None:
        return Skipped("tag deleted")
    sha = _sha(checkout)
    if sha is None:
        return Ignored("malformed tag push payload: 'checkout_sha' is not a commit id")
    base = _base("tag", payload, sha)
    if isinstance(base, Ignored):
        return base
    event = replace(base, tag=tag, before=_sha(_str(payload, "before")), message=_str(payload, "message"),
                    author=_str(payload, "user_name"), user=_str(payload, "user_username"))
    if _push_option_skip(payload):
        return Skipped("push option ci.skip", event)
    return event


# -- merge requests and their notes ----------------------------------------------------------------------------

def _mr_event(kind: EventKind, payload: Mapping[str, Any], mr: Mapping[str, Any]) -> GitEvent | Ignored:
    """The parts merge request and note events share: the MR's head commit, branches, fork or not."""
    last = _map(mr, "last_commit")
    sha = _sha(_str(last, "id"))
    if sha is None:
        return Ignored(f"malformed {kind} payload: the merge request has no last_commit.id")
    base = _base(kind, payload, sha)
    if isinstance(base, Ignored):
        return base
    source_id, target_id = _int(mr, "source_project_id"), _int(mr, "target_project_id")
    clone = _str(_map(mr, "source"), "git_http_url") or base.clone_url
    return replace(base, clone_url=clone, branch=_str(mr, "source_branch"), message=_str(last, "message"),
                   author=_str(_map(last, "author"), "name"), mr_iid=_int(mr, "iid"), mr_title=_str(mr, "title"),
                   source_branch=_str(mr, "source_branch"), target_branch=_str(mr, "target_branch"),
                   from_fork=source_id is not None and target_id is not None and source_id != target_id)


def _merge_request(payload: Mapping[str, Any]) -> Result:
    mr = _map(payload, "object_attributes")
    action = _str(mr, "action") or "none"
    builds = action in _MR_BUILD_ACTIONS or (action == "update" and "oldrev" in mr)
    if not builds:
        if action == "update":
            return Skipped("merge request updated without new commits (title, description, labels or reviewers)")
        return Skipped(f"merge request action {action!r} starts nothing")
    event = _mr_event("merge_request", payload, mr)
    if isinstance(event, Ignored):
        return event
    return _skip_ci(replace(event, user=_str(_map(payload, "user"), "username")))


def note_command(text: str) -> str | None:
    """``run`` or ``retry`` when a line of the note is exactly ``/wishstar run`` or ``/wishstar retry``."""
    for line in text.splitlines():
        found = _COMMAND.fullmatch(line.strip())
        if found:
            return found.group(1)
    return None


def _note(payload: Mapping[str, Any]) -> Result:
    note = _map(payload, "object_attributes")
    noteable = _str(note, "noteable_type") or "nothing"
    if noteable != "MergeRequest":
        return Ignored(f"note on {noteable}, not on a merge request")
    if note.get("system") is True:
        return Ignored("system note")
    if (_str(note, "action") or "create") != "create":
        return Ignored("edited note (only new notes carry commands)")
    command = note_command(_str(note, "note") or "")
    if command is None:
        return Ignored("note without a /wishstar command")
    event = _mr_event("note", payload, _map(payload, "merge_request"))
    if isinstance(event, Ignored):
        return event
    return replace(event, command=command, user=_str(_map(payload, "user"), "username"))


def _system(payload: Mapping[str, Any]) -> Result:
    kind = _str(payload, "object_kind") or _str(payload, "event_name") or "unknown"
    if kind == "push":
        return _push(payload)
    if kind == "tag_push":
        return _tag_push(payload)
    return Ignored(f"unsupported system event {kind}")


_HANDLERS = {
    "Push Hook": _push,
    "Tag Push Hook": _tag_push,
    "Merge Request Hook": _merge_request,
    "Note Hook": _note,
    "System Hook": _system,
}


def classify(header: str | None, payload: Mapping[str, Any]) -> GitEvent | Ignored | Skipped:
    """Interpret one delivery (``X-Gitlab-Event`` header and JSON body)."""
    handler = _HANDLERS.get(header or "")
    if handler is None:
        return Ignored(f"unsupported event {header or '(no X-Gitlab-Event header)'}")
    if not isinstance(payload, Mapping):
        return Ignored(f"malformed {header} payload: not a JSON object")
    return handler(payload)
