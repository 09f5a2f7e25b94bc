"""Driving one claimed run on this replica: prepare (or re-prepare after a takeover), compile, run, release.

Why: a run may be driven by a replica that did not create it (the creator died, or was busy), so everything a
run needs is rebuilt from the store: the stored event names the project and the commit; the stored task rows
say which tasks already finished. With the local executor a task that was running when its replica died is
started again as a new attempt (its processes died with the replica); with the kubernetes executor its Pod
outlived the replica, so the same attempt is started again and the executor re-attaches to that Pod (found by
run, task and attempt) instead of creating another. Tasks that finished are not re-run. A replica that gives a
Kubernetes run up (its lease was lost, or it is shutting down) detaches: it leaves the Pods and the run's
objects in place for the next owner instead of deleting them.
``interruptible: false`` tasks finish when the run is cancelled (a newer run superseding it): the scheduler
decides that, as for every caller. On Kubernetes the pipeline's ``placement:`` applies as in ``wishstar run
--executor kubernetes``: a merged chain is one task (one Pod), and its attempt rows sit where the runner puts
them (members right after the merged task).

Must not claim work or decide what to run next: ``webhook.worker`` claims, ``engine.scheduler`` decides.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from wishstar.engine.compiler.types import Plan, ResolvedTask, RunContext
from wishstar.engine.executors.base import Delegating, Executor, LogSink, RunEnv, TaskOutcome
from wishstar.engine.records import RunRecord
from wishstar.engine.resume import resume_state
from wishstar.engine.runner import Runner
from wishstar.engine.scheduler.decide import initial_state
from wishstar.engine.scheduler.state import RunState
from wishstar.engine.spec.errors import WishstarError
from wishstar.engine.status import ENDED_RUN_STATUSES
from wishstar.engine.store import shape
from wishstar.engine.store.api import Store, TaskRow
from wishstar.engine.store.leases import ClaimedRun, Leases
from wishstar.engine.store.server import Events, Project, Projects
from wishstar.pipelines import catalogs, road
from wishstar.pipelines.road import Extras, RunPlace
from wishstar.pipelines.settings import Settings
from wishstar.tasks import Library
from wishstar.webhook.event_runs import Checkout, EventRuns, checkout_event
from wishstar.webhook.gitlab_events import GitEvent

log = logging.getLogger("wishstar.worker")
SecretsFor = Callable[[Project], Mapping[str, str]]
ExecutorFor = Callable[[Plan, RunContext, Settings], Executor]
"""Builds a run's executor (the settings' ``executor`` by default; tests place Pods on KWOK nodes this way)."""


def no_secrets(_project: Project) -> Mapping[str, str]:
    return {}


def notify(hook: str, store: Store, run_id: str, project_id: int | None, public_url: str) -> None:
    """Call ``webhook.statuses.<hook>(outbox, project, run, public_url=, now=)``; a missing module or a failing
    hook is logged, never raised: statuses must not stop a run."""
    try:
        from wishstar.engine.store.outbox import Outbox
        from wishstar.webhook import statuses
    except ImportError:
        log.debug("webhook.statuses is not available; %s(%s) not sent", hook, run_id)
        return
    fn = getattr(statuses, hook, None)
    if fn is None or project_id is None:
        log.warning("no webhook.statuses.%s or no project; status for run %s not sent", hook, run_id)
        return
    try:
        fn(Outbox(store), Projects(store).get(project_id), shape.run_dict(store.get_run(run_id)),
           public_url=public_url, now=time.time())
    except Exception:
        log.exception("webhook.statuses.%s failed for run %s", hook, run_id)


def row_positions(plan: Plan) -> dict[str, int]:
    """Each task row's position as ``Runner._flush`` writes it: plan order, the members of a merged chain right
    after the merged task (they have rows of their own once it ends)."""
    names = [name for task in plan.all_tasks() for name in (task.name, *task.members)]
    return {name: i for i, name in enumerate(names)}


class Guarded(Delegating):
    """Delegates to an executor, recording each attempt before it starts (``on_start``). With a ``detachable``
    inner executor (Kubernetes, whose Pods outlive this replica) ``force`` (the replica lost the run's lease or
    is shutting down) detaches instead of stopping: attempts are not cancelled (that would delete their Pods)
    and teardown keeps the run's objects, so the next owner re-attaches to them. Which tasks a cancellation
    stops (``interruptible: false``) is the scheduler's decision, not this wrapper's."""

    name = "guarded"

    def __init__(self, inner: Executor, on_start: Callable[[ResolvedTask], None] | None = None) -> None:
        super().__init__(inner)
        self.force, self.on_start = False, on_start
        self._left: set[asyncio.Future[TaskOutcome]] = set()

    async def teardown(self, run: RunEnv) -> None:
        if self.force and self.detachable:
            await self._detach()
        await self.inner.teardown(run)

    async def execute(self, task: ResolvedTask, sink: LogSink) -> TaskOutcome:
        if self.on_start is not None:
            self.on_start(task)
        if not self.detachable:
            return await self.inner.execute(task, sink)
        attempt = asyncio.ensure_future(self.inner.execute(task, sink))
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            if self.force:
                self._left.add(attempt)  # ended by teardown, without deleting its Pod
            else:
                attempt.cancel()
                await asyncio.gather(attempt, return_exceptions=True)
            raise

    async def _detach(self) -> None:
        """Leave the run on its platform: teardown deletes nothing, and the attempts left running end at once
        (on Kubernetes a ``Detached`` error from the namespace watch; a cancellation would delete their Pods)."""
        self.inner.detach("this replica gave the run up; its next owner re-attaches")
        if self._left:
            await asyncio.gather(*self._left, return_exceptions=True)
        self._left.clear()


@dataclass
class Drive:
    """One run being driven: the runner and its executor (to force a stop)."""

    runner: Runner
    executor: Guarded
    work: Path


class RunDriver:
    """Prepares and drives claimed runs; every step that can fail before the runner starts fails the run."""

    def __init__(self, store: Store, leases: Leases, cfg: Settings, library: Library, owner: str,
                 event_runs: EventRuns, *, secrets_for: SecretsFor = no_secrets,
                 executor_for: ExecutorFor | None = None) -> None:
        self.store, self.leases, self.cfg, self.library, self.owner = store, leases, cfg, library, owner
        self.event_runs = event_runs
        self.secrets_for = secrets_for
        self.executor_for = executor_for
        """Another way to build a run's executor (tests place Pods on KWOK nodes); None: the road's."""
        self.target = road.server_target(cfg, os.environ)
        self.events, self.projects = Events(store), Projects(store)

    def prepare(self, claim: ClaimedRun, run: RunRecord, checkout: Checkout | None
                ) -> tuple[Drive, RunState | None]:
        """The runner for a claimed run (blocking: may fetch the commit); raises ``WishstarError``."""
        if claim.event_id is None or claim.project_id is None:
            raise WishstarError("the run has no stored event to rebuild it from")
        project = self.projects.get(claim.project_id)
        found = self.event_runs.interpret(self.events.get(claim.event_id))
        if not isinstance(found, GitEvent):
            raise WishstarError(f"its event no longer classifies as a build: {found.reason}")
        work = self.cfg.state_dir / "work" / claim.run_id
        if checkout is None or not checkout.work.exists():  # a takeover: the catalogs at the recorded commits
            recorded = run.git.get("library")
            library = catalogs.from_record(recorded, self.cfg) if recorded else self.library
            checkout = checkout_event(found, project.clone_url or found.clone_url, project.api_token, work,
                                      library, None, project=project.path)  # see Store.origin
        elif checkout.work != work:
            checkout.work.rename(work)
            checkout = Checkout(work, work / checkout.project_dir.relative_to(checkout.work), checkout.loaded,
                                checkout.library)
        loaded = checkout.loaded
        ctx = road.run_context(claim.run_id, run.number, cast(Any, run.event),
                               road.git_context(run.git), run.params, self.target, self.cfg)
        plan = road.compile_plan(loaded, ctx, checkout.library, self.target, self.cfg)
        secrets = {} if found.from_fork and not project.fork_secrets else dict(self.secrets_for(project))
        start = (resume_state(plan, run, time.time(), reattach=self.target.on_kubernetes)
                 if claim.takeover and run.tasks else None)
        # a re-run attempt keeps saying why ("engine restarted: ..."), also in the row written before it starts
        resumed = {n: t.reason for n, t in start.tasks.items() if t.reason} if start is not None else {}
        recorder = self._attempt_recorder(claim.run_id, plan, resumed)
        prepared = road.prepare_run(plan, ctx, self.target, self.cfg, self.store, self.store.logs,
                                    RunPlace(work, checkout.project_dir), Extras(
                                        secrets=secrets, env={"WISHSTAR_REPLICA": self.owner},
                                        wrap=lambda inner, _plan: Guarded(inner, on_start=recorder),
                                        make=self.executor_for,
                                        flush_each_end=not self.target.on_kubernetes))
        return Drive(prepared.runner, cast(Guarded, prepared.executor), work), start

    def _attempt_recorder(self, run_id: str, plan: Plan, reasons: Mapping[str, str | None] | None = None
                          ) -> Callable[[ResolvedTask], None]:
        """Record an attempt as running before it executes (the runner batches its writes): a replica that
        takes the run over then never starts an attempt number that already ran. ``reasons``: what a task
        resumed after a takeover says while it runs again."""
        positions = row_positions(plan)
        rows = {t.name: (t.base, t.is_finally, positions[t.name]) for t in plan.all_tasks()}

        def record(task: ResolvedTask) -> None:
            base, is_finally, position = rows[task.name]
            self.store.upsert_tasks(run_id, [TaskRow(name=task.name, status="running", base=base,
                                                     is_finally=is_finally, attempts=task.attempt,
                                                     reason=(reasons or {}).get(task.name), started_at=time.time(),
                                                     position=position)])

        return record

    async def drive(self, claim: ClaimedRun, checkout: Checkout | None,
                    started: Callable[[Drive], None] | None = None) -> str:
        """Drive the run to its end and release its lease; returns the final status ("" if the lease was
        lost, when another replica finishes it)."""
        run = await asyncio.to_thread(self.store.get_run, claim.run_id)
        if run.status in ENDED_RUN_STATUSES:  # finished; only the release was missing
            await asyncio.to_thread(self._finish, claim.run_id, run.status, claim.project_id)
            return str(run.status)
        try:
            drive, start = await asyncio.to_thread(self.prepare, claim, run, checkout)
        except (WishstarError, OSError) as exc:
            await asyncio.to_thread(self.store.set_run_status, claim.run_id, "failed",
                                    f"could not start: {exc}", finished_at=self._now())
            await asyncio.to_thread(self._finish, claim.run_id, "failed", claim.project_id)
            return "failed"
        if started is not None:
            started(drive)
        self.store.set_run_owner(claim.run_id, *_host_pid())
        notify("on_run_started", self.store, claim.run_id, claim.project_id, self.cfg.public_url)
        try:
            state = await drive.runner.run(start if start is not None else
                                           initial_state(drive.runner.plan, self._now()))
        finally:
            shutil.rmtree(drive.work, ignore_errors=True)
        await asyncio.to_thread(self._finish, claim.run_id, str(state.status), claim.project_id)
        return str(state.status)

    def _finish(self, run_id: str, status: str, project_id: int | None) -> None:
        if self.leases.release(run_id, self.owner, "done"):
            notify("on_run_finished", self.store, run_id, project_id, self.cfg.public_url)
        else:
            log.warning("run %s ended %s but its lease was no longer %s's", run_id, status, self.owner)

    @staticmethod
    def _now() -> float:
        return time.time()


def _host_pid() -> tuple[str, int]:
    import socket

    return socket.gethostname(), os.getpid()
