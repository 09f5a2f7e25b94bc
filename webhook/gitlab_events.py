"""GitLab webhook payloads as Wishstar events: which commit to build, on which ref, and what to skip. Pure.

GitLab documents the payloads at https://docs.gitlab.com/user/project/integrations/webhook_events/ ; the
samples in ../shared/conformance/gitlab/ are those documented payloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

EventKind = Literal["push", "tag", "merge_request", "note"]


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


def classify(header: str | None, payload: Mapping[str, Any]) -> GitEvent | Ignored | Skipped:
    """Interpret one delivery (``X-Gitlab-Event`` header and JSON body)."""
    raise NotImplementedError  # written in the webhook work (see issue 5); the signature is the contract
