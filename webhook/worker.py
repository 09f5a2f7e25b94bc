"""A replica's workers: claim stored events and turn them into runs, claim runs and drive them, heartbeat.

Why: the receiver answers GitLab within milliseconds and stores events; everything slow happens here, in any
replica, from the database alone (no in-memory queue another replica could not see). One asyncio loop per
replica drives up to ``settings.workers`` runs at once; a heartbeat renews this replica's leases every third
of ``lease_seconds``; a run whose lease this replica lost (it stalled past expiry and another replica took
over) is stopped here at once. ``python -m wishstar.webhook.worker`` runs the workers alone (no HTTP), as the replica
tests do.

Must not decide what a run does (``engine.scheduler``) nor how an event becomes a run (``webhook.event_runs``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

from wishstar.engine.spec.errors import WishstarError
from wishstar.engine.store.api import Store, process_is_alive
from wishstar.engine.store.leases import ClaimedRun, LeaseLost, Leases
from wishstar.engine.store.server import Projects
from wishstar.pipelines.catalogs import open_library
from wishstar.pipelines.settings import Settings, load_settings
from wishstar.tasks import Library
from wishstar.webhook.event_runs import Checkout, Classify, EventRuns
from wishstar.webhook.worker_drive import Drive, RunDriver, SecretsFor, no_secrets, notify

log = logging.getLogger("wishstar.worker")


def command_users_from_env(value: str | None) -> frozenset[str] | None:
    """``WISHSTAR_COMMAND_USERS=alice,bob``: who may run ``/wishstar run|retry``; unset: anyone who can
    comment on the merge request."""
    if value is None or not value.strip():
        return None
    return frozenset(u.strip() for u in value.split(",") if u.strip())


class Worker:
    """One replica's work loop (see the module docstring)."""

    def __init__(self, store: Store, cfg: Settings, library: Library, *, owner: str | None = None,
                 classify: Classify | None = None, command_users: frozenset[str] | None = None,
                 secrets_for: SecretsFor = no_secrets, poll_s: float = 0.1,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.cfg, self.clock, self.poll_s = store, cfg, clock, poll_s
        self.owner = owner or cfg.replica_id or f"{socket.gethostname()}:{os.getpid()}"
        self.leases = Leases(store)
        self.projects = Projects(store)
        self.event_runs = EventRuns(self.leases, library, cfg.state_dir, self.owner, classify=classify,
                                    command_users=command_users, executor=cfg.executor)
        self.driver = RunDriver(store, self.leases, cfg, library, self.owner, self.event_runs,
                                secrets_for=secrets_for)
        self.driving: dict[str, asyncio.Task[str]] = {}
        self._drives: dict[str, Drive] = {}
        self._checkouts: dict[str, Checkout] = {}
        self._wake = asyncio.Event()

    # -- the loop ------------------------------------------------------------------------------------------

    async def serve(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; then stop driving (leases are expired so another replica resumes)."""
        await self._recover()
        beat = asyncio.create_task(self._heartbeat(stop))
        try:
            while not stop.is_set():
                busy = await self.tick()
                if not busy:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_s)
        finally:
            beat.cancel()
            await self._abandon()

    async def until_idle(self, timeout: float = 60.0) -> None:
        """Work until no event is pending and no run is queued or being driven here (tests, the benchmark)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = await self.tick()
            if not busy and not self.driving:
                return
            await asyncio.sleep(0 if busy else self.poll_s / 4)
        raise TimeoutError("the worker was still busy")

    async def tick(self) -> bool:
        """Process at most one event, then fill free run slots; True if anything was claimed."""
        busy = await self._one_event()
        while len(self.driving) < self.cfg.workers:
            claim = await asyncio.to_thread(self.leases.claim_run, self.owner, self.clock(),
                                            self.cfg.lease_seconds, host=socket.gethostname(), pid=os.getpid())
            if claim is None:
                break
            self._start(claim)
            busy = True
        return busy

    async def _one_event(self) -> bool:
        stored = await asyncio.to_thread(self.leases.claim_event, self.owner, self.clock(),
                                         self.cfg.lease_seconds)
        if stored is None:
            return False
        try:
            if stored.project_id is None:
                await asyncio.to_thread(self.leases.finish_event, stored.id, self.owner, "failed",
                                        "no registered project")
                return True
            project = await asyncio.to_thread(self.projects.get, stored.project_id)
            outcome = await asyncio.to_thread(self.event_runs.process, stored, project, self.clock())
        except LeaseLost as exc:
            log.warning("%s", exc)
            return True
        except (WishstarError, OSError) as exc:  # left claimed: after its lease expires it is tried again
            log.exception("event %s: %s", stored.id, exc)
            return True
        if outcome.created is not None:
            notify("on_run_finished" if outcome.finished else "on_run_queued", self.store,
                   outcome.created.run_id, project.id, self.cfg.public_url)
            if outcome.checkout is not None:
                self._checkouts[outcome.created.run_id] = outcome.checkout
        return True

    def _start(self, claim: ClaimedRun) -> None:
        if claim.takeover and claim.previous_owner is not None:  # (recovered ones were logged by _recover)
            log.warning("run %s: taking over from %s, whose lease expired", claim.run_id, claim.previous_owner)
        checkout = self._checkouts.pop(claim.run_id, None)
        task = asyncio.create_task(self.driver.drive(claim, checkout, started=self._remember(claim.run_id)),
                                   name=f"run-{claim.run_id}")
        self.driving[claim.run_id] = task
        task.add_done_callback(lambda t, run_id=claim.run_id: self._done(run_id, t))  # type: ignore[misc]

    def _remember(self, run_id: str) -> Callable[[Drive], None]:
        def keep(drive: Drive) -> None:
            self._drives[run_id] = drive

        return keep

    def _done(self, run_id: str, task: asyncio.Task[str]) -> None:
        self.driving.pop(run_id, None)
        self._drives.pop(run_id, None)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("run %s: the driver failed", run_id, exc_info=task.exception())

    # -- leases --------------------------------------------------------------------------------------------

    async def _recover(self) -> None:
        """Starting: the runs a dead engine process left (a previous process of this replica, or any engine
        that ran on this machine and is gone) are claimable at once instead of after their leases expire;
        the claim then takes them over (``engine.resume``: finished tasks kept, interrupted ones run again
        after the executor killed their leftover processes)."""
        try:
            found = await asyncio.to_thread(self.leases.recover, self.owner, socket.gethostname(),
                                            process_is_alive)
        except Exception:
            log.exception("could not recover the runs of dead engines; they wait for their leases to expire")
            return
        for run_id, held_by in found:
            log.warning("run %s: taking over from %s, whose engine is gone", run_id, held_by or "no replica")

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self.cfg.lease_seconds / 3)
            try:
                _events, held = await asyncio.to_thread(self.leases.renew, self.owner, self.clock(),
                                                        self.cfg.lease_seconds)
            except Exception:
                log.exception("heartbeat failed; retrying")
                continue
            for run_id in [r for r in self.driving if r not in held and r in self._drives]:
                log.error("run %s: lease lost (another replica took it over); stopping here", run_id)
                self._stop(run_id)

    def _stop(self, run_id: str) -> None:
        drive = self._drives.get(run_id)
        if drive is not None:
            drive.executor.force = True
        task = self.driving.get(run_id)
        if task is not None:
            task.cancel()

    async def _abandon(self) -> None:
        """Shutting down: stop the runs driven here and expire their leases so another replica resumes them."""
        running = list(self.driving)
        for run_id in running:
            self._stop(run_id)
        if self.driving:
            await asyncio.gather(*self.driving.values(), return_exceptions=True)
        for run_id in running:
            await asyncio.to_thread(self.leases.expire, run_id, self.owner)


def main(argv: list[str] | None = None, *, prog: str = "python -m wishstar.webhook.worker",
         prepare: Callable[[Worker], None] | None = None) -> int:
    """``python -m wishstar.webhook.worker``: the workers of one replica, without the HTTP server. ``prepare`` adjusts
    the worker before it starts (tests place its Pods on KWOK nodes this way)."""
    parser = argparse.ArgumentParser(prog=prog, description=main.__doc__)
    parser.add_argument("--replica-id", help="this replica's name (default: WISHSTAR_REPLICA_ID or host:pid)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        cfg = load_settings()
        store = Store.open(cfg.database_url, Path(cfg.state_dir))
        library = open_library(cfg)  # the catalogs setting: git catalogs pinned when the replica starts
    except WishstarError as exc:  # bad settings or a store that cannot be opened: a message, not a traceback
        parser.exit(1, f"error: {exc}\n")
    worker = Worker(store, cfg, library, owner=args.replica_id,
                    command_users=command_users_from_env(cfg.command_users))
    if prepare is not None:
        prepare(worker)
    serve_until_signalled(worker, store)
    return 0


def serve_until_signalled(worker: Worker, store: Store) -> None:
    """Run ``worker`` until SIGINT or SIGTERM (then its leases are given up for another replica), then close
    the store."""

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await worker.serve(stop)

    try:
        asyncio.run(run())
    finally:
        with contextlib.suppress(Exception):
            store.close()


if __name__ == "__main__":
    raise SystemExit(main())
