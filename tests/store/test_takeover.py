"""Server runs whose engine process died: the CLI's reaper leaves them to their leases, and a replica that
starts on the same machine (or a restarted replica under the same name) makes them claimable at once instead
of after their leases expire. Runs on both backends (tests/store/conftest.py)."""

from __future__ import annotations

from wishstar.engine.store import Store
from wishstar.engine.store.leases import Leases, NewRun
from wishstar.engine.store.server import Events

T0 = 1_700_000_000.0
LEASE = 15.0


def server_run(store: Store, leases: Leases, owner: str = "r1", host: str = "h", pid: int = 7) -> str:
    """A run created from an event and claimed by ``owner`` (process ``host``/``pid``), now running."""
    event_id, _ = Events(store).add(delivery_key=f"k-{owner}-{pid}-{len(store.list_runs())}", kind="push",
                                    header="Push Hook", payload={}, project_id=None, now=T0)
    assert leases.claim_event(owner, T0, LEASE) is not None
    created = leases.create_run(event_id, owner, T0, NewRun(pipeline="app", git={}, event="push",
                                                            executor="local"), project_id=None)
    claim = leases.claim_run(owner, T0, LEASE, host=host, pid=pid)
    assert claim is not None and claim.run_id == created.run_id
    store.set_run_status(created.run_id, "running", started_at=T0)
    return created.run_id


def test_the_reaper_leaves_a_server_run_whose_process_died_to_its_lease(store: Store) -> None:
    served = server_run(store, Leases(store))
    cli, _ = store.create_run("ci", executor="local", host="h", pid=8, status="running")
    assert store.reap_orphans(lambda host, pid: False, now=T0) == [cli]
    run = store.get_run(served)
    assert (run.status, run.reason) == ("running", None)


def test_claiming_a_run_makes_the_claiming_process_its_owner(store: Store) -> None:
    run_id = server_run(store, Leases(store), host="box", pid=4242)
    origin = store.origin(run_id)
    assert (origin.host, origin.pid) == ("box", 4242)


def test_a_starting_replica_takes_over_at_once_a_run_whose_engine_on_its_machine_is_gone(store: Store) -> None:
    leases = Leases(store)
    run_id = server_run(store, leases, owner="r1", host="h", pid=7)
    assert leases.claim_run("r2", T0 + 1, LEASE) is None  # the lease has 14 s to go
    assert leases.recover("r2", "h", lambda host, pid: pid != 7) == [(run_id, "r1")]
    claim = leases.claim_run("r2", T0 + 1, LEASE, host="h", pid=9)
    assert claim is not None and (claim.run_id, claim.takeover) == (run_id, True)
    assert leases.recover("r3", "h", lambda host, pid: pid != 7) == []  # now r2's, which lives


def test_a_run_whose_engine_lives_or_ran_on_another_machine_waits_for_its_lease(store: Store) -> None:
    leases = Leases(store)
    server_run(store, leases, owner="r1", host="h", pid=7)
    server_run(store, leases, owner="r2", host="elsewhere", pid=8)
    # pid 7 is alive (maybe reused by another program: then the run only waits for its lease to expire)
    assert leases.recover("r3", "h", lambda host, pid: pid == 7) == []
    assert leases.claim_run("r3", T0 + 1, LEASE) is None
    assert leases.claim_run("r3", T0 + LEASE + 1, LEASE) is not None  # expired: taken over as before


def test_a_restarted_replica_takes_back_what_its_previous_process_held(store: Store) -> None:
    leases = Leases(store)
    run_id = server_run(store, leases, owner="r1", host="h", pid=7)
    event_id, _ = Events(store).add(delivery_key="held", kind="push", header="Push Hook", payload={},
                                    project_id=None, now=T0 + 1)
    assert leases.claim_event("r1", T0 + 1, LEASE) is not None
    # the new process of replica r1: pid 7 counts as alive (reused), but the lease is r1's own
    assert leases.recover("r1", "h", lambda host, pid: True) == [(run_id, "r1")]
    # its heartbeat no longer renews the old process's lease, which would keep it from everyone for ever
    assert leases.renew("r1", T0 + 2, LEASE) == (set(), set())
    claim = leases.claim_run("r1", T0 + 2, LEASE)
    assert claim is not None and (claim.run_id, claim.takeover) == (run_id, True)
    again = leases.claim_event("r1", T0 + 2, LEASE)
    assert again is not None and (again.id, again.attempts) == (event_id, 2)
