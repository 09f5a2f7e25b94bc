"""From a stored webhook event to a recorded run: classify again, fetch the exact commit, validate, decide.

Why: the receiver only stores deliveries; a worker turns each one into exactly one outcome: ``ignored``,
``skipped`` with the reason (``on:`` does not match, a command from a user not allowed to run it), or a run in
history. An accepted event that should run always becomes a run: when its commit cannot be fetched or its
pipeline file is invalid, the run is recorded as failed with that reason. The server's policy on the road
(``pipelines.road``): the source is the commit the event names (``checkout_sha`` for tags), fetched shallow
with the project's token (``pipelines.source.fetch_commit``); admission (``pipelines.admission.admit``) gets
the event's trigger facts (target branch, changed paths; a ``/wishstar`` note is an explicit request).

Must not execute pipelines (``webhook.worker`` drives runs) and must not pass any payload string to a step
other than through the run's git context, which reaches steps only as ``WISHSTAR_GIT_*`` variables.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from wishstar.engine.compiler.types import GitContext
from wishstar.engine.spec.errors import WishstarError
from wishstar.engine.store.leases import Created, Leases, NewRun
from wishstar.engine.store.server import Project, StoredEvent
from wishstar.pipelines import catalogs, road
from wishstar.pipelines.admission import EventKind, NotStarted, Trigger, admit
from wishstar.pipelines.load import Loaded, find_pipeline_file
from wishstar.pipelines.source import fetch_commit, read_capped
from wishstar.tasks import Library
from wishstar.webhook import gitlab_events
from wishstar.webhook.gitlab_events import GitEvent, Ignored, Skipped

Classify = Callable[[str | None, Mapping[str, Any]], "GitEvent | Ignored | Skipped"]
_NAME = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class Checkout:
    """A fetched commit and its validated pipeline, kept by the replica that prepared it for the run."""

    work: Path
    project_dir: Path
    loaded: Loaded
    library: Library
    """The library it was validated with: the project's own ``.wishstar/tasks/`` first."""


@dataclass(frozen=True)
class Outcome:
    status: str
    """The event's final status: done (a run was recorded), skipped, ignored or failed."""
    reason: str | None = None
    created: Created | None = None
    checkout: Checkout | None = None
    finished: bool = False
    """The run was recorded already finished (failed before it could start)."""


# -- pure pieces ---------------------------------------------------------------------------------------------

def run_event(ev: GitEvent) -> str:
    """The run's event kind: a note command runs the merge request it was written on."""
    return "merge_request" if ev.kind == "note" else ev.kind


def git_context(ev: GitEvent, url: str) -> GitContext:
    """The untrusted payload strings the run may see (as ``WISHSTAR_GIT_*`` environment variables only)."""
    return GitContext(url=url, branch=ev.source_branch or ev.branch if ev.kind in ("merge_request", "note")
                      else ev.branch, tag=ev.tag, commit=ev.sha, message=ev.message, author=ev.author,
                      mr_title=ev.mr_title, mr_iid=str(ev.mr_iid) if ev.mr_iid is not None else None,
                      target_branch=ev.target_branch)


def command_refusal(ev: GitEvent, allowed_users: frozenset[str] | None) -> str | None:
    """Why a merge-request note does not start a run (None: it does). ``allowed_users`` None: anyone who
    can comment on the merge request may run ``/wishstar run|retry``."""
    if ev.command not in ("run", "retry"):
        return "the note carries no /wishstar command"
    if allowed_users is not None and (ev.user or "") not in allowed_users:
        return f'user "{ev.user}" may not run /wishstar commands (not in command_users)'
    return None


def fallback_name(text: bytes | None, project_path: str) -> str:
    """The pipeline name for a run that failed before its file validated: the file's ``name:`` when it reads,
    else the project's path."""
    if text:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None
        name = data.get("name") if isinstance(data, dict) else None
        if isinstance(name, str) and _NAME.match(name):
            return name
    return project_path[:200]


# -- I/O -----------------------------------------------------------------------------------------------------

def checkout_event(ev: GitEvent, url: str, token: str | None, work: Path, library: Library,
                   file: str | None = None, *, project: str | None = None) -> Checkout:
    """Fetch the event's commit and validate its pipeline file (``ValidationFailed`` lists every problem); a
    commit with no pipeline file is detected and gets the generated pipeline, named after ``project`` (the
    project's path; its last part)."""
    project_dir = fetch_commit(url, ev.sha, work / "checkout", token)
    name = project.rsplit("/", 1)[-1] if project else None
    library = library.for_project(project_dir)
    loaded = road.read_pipeline(project_dir, file, library, where=project, name=name)
    return Checkout(work, project_dir, loaded, library)


def trigger_of(ev: GitEvent, url: str) -> Trigger:
    """The trigger facts admission decides on: a ``/wishstar`` note is an explicit request for its merge
    request (it runs whatever ``on:`` says)."""
    return Trigger(cast(EventKind, run_event(ev)), git_context(ev, url),
                   tuple(ev.changed_paths) if ev.changed_paths is not None else None, explicit=ev.kind == "note")


def _file_text(project_dir: Path) -> bytes | None:
    try:
        return read_capped(find_pipeline_file(project_dir, None))
    except WishstarError:
        return None


class EventRuns:
    """Works one claimed event to its outcome (a run recorded, or the event skipped/ignored/failed)."""

    def __init__(self, leases: Leases, library: Library, state_dir: Path, owner: str, *,
                 classify: Classify | None = None, command_users: frozenset[str] | None = None,
                 executor: str = "local") -> None:
        self.leases, self.library, self.state_dir, self.owner = leases, library, state_dir, owner
        self.classify = classify or gitlab_events.classify
        self.command_users = command_users
        self.executor = executor

    def interpret(self, stored: StoredEvent) -> GitEvent | Outcome:
        """The event to build, or the outcome that ends it without a run."""
        try:
            result = self.classify(stored.header, stored.payload)
        except NotImplementedError:
            return Outcome("failed", "this replica cannot classify events (webhook.gitlab_events.classify)")
        if isinstance(result, Ignored):
            return Outcome("ignored", result.reason)
        if isinstance(result, Skipped):
            return Outcome("skipped", result.reason)
        if result.kind == "note":
            refusal = command_refusal(result, self.command_users)
            if refusal:
                return Outcome("skipped" if result.command else "ignored", refusal)
        return result

    def process(self, stored: StoredEvent, project: Project, now: float) -> Outcome:
        """Classify, fetch, validate, check ``on:``, record the run; ends the event either way."""
        found = self.interpret(stored)
        if isinstance(found, Outcome):
            self.leases.finish_event(stored.id, self.owner, found.status, found.reason)
            return found
        ev = found
        url = project.clone_url or ev.clone_url
        trigger = trigger_of(ev, url)
        git_ctx, event = trigger.git, trigger.event
        work = self.state_dir / "work" / f"ev-{stored.id}"
        try:  # git catalogs resolved once per run: their refs' commits now
            library = catalogs.refresh(self.library, self.state_dir)
            checkout = checkout_event(ev, url, project.api_token, work, library, project=project.path)
        except WishstarError as exc:
            text = _file_text(work / "checkout")
            shutil.rmtree(work, ignore_errors=True)
            return self._failed_run(stored, project, now, git_ctx, event, str(exc), text)
        pipeline = checkout.loaded.pipeline
        try:
            decision = admit(pipeline, checkout.loaded.file, trigger)
        except WishstarError as exc:
            shutil.rmtree(work, ignore_errors=True)
            return self._failed_run(stored, project, now, git_ctx, event, str(exc), None, pipeline.name)
        if isinstance(decision, NotStarted):
            shutil.rmtree(work, ignore_errors=True)
            self.leases.finish_event(stored.id, self.owner, "skipped", decision.reason)
            return Outcome("skipped", decision.reason)
        created = self.leases.create_run(stored.id, self.owner, now, NewRun(
            pipeline=pipeline.name, git={**git_ctx.as_dict(), "library": catalogs.record(checkout.library)},
            event=event, executor=self.executor, file=checkout.loaded.file, group=decision.group,
            limit=decision.limit, newer=decision.newer),
            project_id=project.id)
        return Outcome("done", None, created, checkout)

    def _failed_run(self, stored: StoredEvent, project: Project, now: float, git_ctx: GitContext, event: str,
                    reason: str, text: bytes | None, name: str | None = None) -> Outcome:
        created = self.leases.create_run(stored.id, self.owner, now, NewRun(
            pipeline=name or fallback_name(text, project.path), git=git_ctx.as_dict(), event=event,
            executor=self.executor, status="failed", reason=reason[:4000]), project_id=project.id)
        return Outcome("done", reason, created, None, finished=True)
