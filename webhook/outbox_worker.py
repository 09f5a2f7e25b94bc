"""The sender that drains the outbox into GitLab: commit statuses and merge-request notes.

Why: statuses must reach GitLab however long it is down and whichever replica is alive. ``run_outbox`` loops:
claim due items (``engine.store.outbox``: leased, at most one per commit at a time, so order holds), send each
through ``webhook.gitlab_api``, then mark it sent, schedule a retry with backoff (5xx, 429, timeouts, refused
connections) or give it up (401, 403, 404: retrying cannot help). Everything it knows lives in the table, so
a restart or a crash only delays items: their leases expire and another sender takes them.

The lease is longer than three client timeouts, so a sender stuck on a hanging GitLab gives up its request
long before another replica could take the same item.

Must not decide what to send (``webhook.statuses`` does) or sleep on a wall clock it was not given: time
comes from ``clock`` and the loop waits on ``stop_event`` between polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from wishstar.engine.store.api import Store
from wishstar.engine.store.outbox import Outbox, OutboxItem
from wishstar.engine.store.server import Project, ProjectNotFound, Projects
from wishstar.pipelines.settings import Settings
from wishstar.webhook.gitlab_api import DEFAULT_TIMEOUT_S, GitLabClient, GitLabError

Clock = Callable[[], float]
ClientFactory = Callable[[str, str], GitLabClient]
POLL_S = 0.5
_log = logging.getLogger(__name__)
BATCH = 20


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_for(settings: Settings, timeout_s: float) -> float:
    return max(settings.lease_seconds, 3 * timeout_s + 5)


@dataclass
class Sender:
    """One replica's sender: the store, who it is, and GitLab clients per (instance, token)."""

    store: Store
    settings: Settings
    owner: str = field(default_factory=default_owner)
    timeout_s: float = DEFAULT_TIMEOUT_S
    client_factory: ClientFactory | None = None
    _clients: dict[tuple[str, str], GitLabClient] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.store)
        self.projects = Projects(self.store)

    def send_due(self, now: float, limit: int = BATCH) -> int:
        """Claim and send what is due now, one item per commit; returns how many items were handled."""
        items = self.outbox.claim_due(self.owner, now, lease_for(self.settings, self.timeout_s), limit)
        for item in items:
            self.deliver(item, now)
        return len(items)

    def deliver(self, item: OutboxItem, now: float) -> None:
        try:
            project = self.projects.get(item.project_id)
        except ProjectNotFound:
            self.outbox.give_up(item.id, "the project is no longer registered", now, self.owner)
            return
        client = self._client(project)
        if client is None:
            self.outbox.give_up(item.id, "no GitLab API token (set WISHSTAR_GITLAB_TOKEN or the project's token)",
                                now, self.owner)
            return
        try:
            self._send(client, project, item)
        except GitLabError as exc:
            if exc.retryable:
                self.outbox.retry(item.id, str(exc), now, self.owner)
            else:
                self.outbox.give_up(item.id, str(exc), now, self.owner)
            return
        self.outbox.mark_sent(item.id, now, self.owner)

    def _send(self, client: GitLabClient, project: Project, item: OutboxItem) -> None:
        payload = item.payload
        if item.kind == "status":
            client.post_status(project.gitlab_id, str(item.key), state=payload["state"], name=payload["name"],
                               target_url=payload.get("target_url"), description=payload.get("description"))
        elif item.kind == "note":
            iid, pipeline = int(payload["mr_iid"]), str(payload["pipeline"])
            known = self.outbox.note_id(project.id, iid, pipeline)
            note_id = client.upsert_mr_note(project.gitlab_id, iid, known, str(payload["body"]))
            if note_id != known:
                self.outbox.set_note_id(project.id, iid, pipeline, note_id)
        else:
            raise ValueError(f"outbox item {item.id}: unknown kind {item.kind!r}")

    def _client(self, project: Project) -> GitLabClient | None:
        token = project.api_token or self.settings.gitlab_token
        if not token:
            return None
        key = (project.gitlab_url, token)
        if key not in self._clients:
            factory = self.client_factory or self._default_client
            self._clients[key] = factory(project.gitlab_url, token)
        return self._clients[key]

    def _default_client(self, url: str, token: str) -> GitLabClient:
        return GitLabClient(url, token, timeout=self.timeout_s)


async def run_outbox(store: Store, settings: Settings, stop_event: asyncio.Event, clock: Clock = time.time, *,
                     owner: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S, poll_s: float = POLL_S,
                     client_factory: ClientFactory | None = None) -> None:
    """Send due outbox items until ``stop_event`` is set. Survives GitLab outages and database hiccups."""
    sender = Sender(store, settings, owner=owner or default_owner(), timeout_s=timeout_s,
                    client_factory=client_factory)
    while not stop_event.is_set():
        try:
            handled = await asyncio.to_thread(sender.send_due, clock())
        except Exception as exc:  # a database hiccup must not end the sender; the items stay in the table
            _log.warning("outbox sender: %s", type(exc).__name__)
            handled = 0
        if handled:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop_event.wait(), timeout=poll_s)
