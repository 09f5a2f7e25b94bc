"""The status outbox: order per commit, leases, backoff, death, restarts, and concurrent senders.

Runs on SQLite and on PostgreSQL (WISHSTAR_TEST_POSTGRES_URL; skipped with the reason without it, failing
when CI_REQUIRE_POSTGRES=1). The sender tests post to the stand-in GitLab (``tests/gitlab_standin.py``),
which follows GitLab's documented commit status API.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tests import gitlab_standin
from tests.gitlab_standin import StandIn
from tests.store import conftest as store_fixtures
from wishstar.engine.store import Store
from wishstar.engine.store.outbox import MAX_ATTEMPTS, MAX_DELAY_S, Outbox, backoff
from wishstar.engine.store.server import Projects
from wishstar.pipelines.settings import Settings
from wishstar.webhook.outbox_worker import Sender

# fixtures shared with the store's tests (SQLite and PostgreSQL) and the stand-in GitLab
backend, store_url = store_fixtures.backend, store_fixtures.store_url
open_store, store = store_fixtures.open_store, store_fixtures.store
gitlab = gitlab_standin.gitlab

SHA_A = "a" * 40
SHA_B = "b" * 40


def _project(store: Store, gl_url: str = "https://gitlab.example.com", token: str | None = "t") -> int:
    return Projects(store).add(gitlab_url=gl_url, gitlab_id=42, path="group/app", hook_secret="s",
                               api_token=token, now=0.0).id


def _status(outbox: Outbox, pid: int, sha: str, state: str, now: float = 1.0) -> int:
    return outbox.enqueue_status(pid, sha, "wishstar/build", state, "http://w/runs/1", None, now)


def test_only_the_oldest_unsent_item_of_a_commit_is_claimable(store: Store) -> None:
    outbox, pid = Outbox(store), _project(store)
    first = _status(outbox, pid, SHA_A, "pending")
    _status(outbox, pid, SHA_A, "running")
    assert [i.id for i in outbox.claim_due("r1", 2.0, 30, 10)] == [first]
    assert outbox.claim_due("r2", 2.0, 30, 10) == []


def test_the_next_item_of_a_commit_is_claimable_once_the_first_is_sent(store: Store) -> None:
    outbox, pid = Outbox(store), _project(store)
    first = _status(outbox, pid, SHA_A, "pending")
    second = _status(outbox, pid, SHA_A, "running")
    outbox.claim_due("r1", 2.0, 30, 10)
    assert outbox.mark_sent(first, 3.0, "r1")
    assert [i.id for i in outbox.claim_due("r1", 3.0, 30, 10)] == [second]


def test_items_of_different_commits_are_claimed_in_one_batch(store: Store) -> None:
    outbox, pid = Outbox(store), _project(store)
    a = _status(outbox, pid, SHA_A, "pending")
    b = _status(outbox, pid, SHA_B, "pending")
    _status(outbox, pid, SHA_A, "running")
    assert [i.id for i in outbox.claim_due("r1", 2.0, 30, 10)] == [a, b]


def test_a_leased_item_is_claimed_again_only_after_its_lease_expires(store: Store) -> None:
    outbox, pid = Outbox(store), _project(store)
    item = _status(outbox, pid, SHA_A, "pending")
    outbox.claim_due("dead-replica", 2.0, 30, 10)
    assert outbox.claim_due("r2", 31.0, 30, 10) == []
    assert [i.id for i in outbox.claim_due("r2", 32.0, 30, 10)] == [item]
    assert not outbox.mark_sent(item, 33.0, "dead-replica")
    assert outbox.mark_sent(item, 33.0, "r2")


def test_an_item_is_not_due_before_it_was_enqueued_for(store: Store) -> None:
    outbox, pid = Outbox(store), _project(store)
    _status(outbox, pid, SHA_A, "pending", now=10.0)
    assert outbox.claim_due("r1", 9.0, 30, 10) == []


@pytest.mark.parametrize(("attempts", "delay"), [(1, 2.0), (2, 4.0), (5, 32.0), (8, 256.0), (9, MAX_DELAY_S),
                                                 (19, MAX_DELAY_S)], ids=lambda v: str(v))
def test_backoff_doubles_from_two_seconds_up_to_five_minutes(attempts: int, delay: float) -> None:
    assert backoff(attempts) == delay


def test_a_failed_attempt_is_retried_after_the_backoff(store: Store) -> None:
    outbox, pid = Outbox(store), _project(store)
    item = _status(outbox, pid, SHA_A, "pending")
    outbox.claim_due("r1", 100.0, 30, 10)
    assert outbox.retry(item, "GitLab answered 502", 100.0, "r1") == "pending"
    assert outbox.claim_due("r1", 101.9, 30, 10) == []
    claimed = outbox.claim_due("r1", 102.0, 30, 10)
    assert [(i.id, i.attempts, i.last_error) for i in claimed] == [(item, 1, "GitLab answered 502")]


def test_an_item_dies_after_max_attempts_and_unblocks_the_next_one(store: Store) -> None:
    outbox, pid = Outbox(store), _project(store)
    doomed = _status(outbox, pid, SHA_A, "pending")
    after = _status(outbox, pid, SHA_A, "running")
    now = 1.0
    states = []
    for _ in range(MAX_ATTEMPTS):
        [claimed] = outbox.claim_due("r1", now, 30, 10)
        assert claimed.id == doomed
        states.append(outbox.retry(doomed, "down", now, "r1"))
        now += MAX_DELAY_S
    assert states[-1] == "dead" and set(states[:-1]) == {"pending"}
    assert [i.id for i in outbox.claim_due("r1", now, 30, 10)] == [after]
    assert outbox.counts() == {"dead": 1, "pending": 1}


def test_give_up_kills_an_item_at_once(store: Store) -> None:
    outbox, pid = Outbox(store), _project(store)
    item = _status(outbox, pid, SHA_A, "pending")
    outbox.claim_due("r1", 2.0, 30, 10)
    assert outbox.give_up(item, "401", 2.0, "r1")
    assert outbox.get(item).state == "dead"
    assert outbox.claim_due("r1", 1e9, 30, 10) == []


def test_unsent_items_survive_a_restart(open_store: Callable[[], Store]) -> None:
    first = open_store()
    outbox, pid = Outbox(first), _project(first)
    ids = [_status(outbox, pid, SHA_A, s) for s in ("pending", "running", "success")]
    outbox.claim_due("crashed", 2.0, 30, 10)
    first.close()
    again = Outbox(open_store())
    assert [i.id for i in again.list(state="pending")] == ids
    assert [i.id for i in again.claim_due("r2", 40.0, 30, 10)] == ids[:1]


def test_a_note_key_orders_notes_per_merge_request_and_pipeline(store: Store) -> None:
    outbox, pid = Outbox(store), _project(store)
    first = outbox.enqueue_note(pid, 7, "build", "one", 1.0)
    outbox.enqueue_note(pid, 7, "build", "two", 1.0)
    other = outbox.enqueue_note(pid, 7, "deploy", "three", 1.0)
    assert [i.id for i in outbox.claim_due("r1", 2.0, 30, 10)] == [first, other]


def test_two_claimers_never_hold_the_same_item(open_store: Callable[[], Store]) -> None:
    setup = open_store()
    pid = _project(setup)
    outbox = Outbox(setup)
    for n in range(60):
        _status(outbox, pid, f"{n:040x}", "pending")
    claimed: dict[str, list[int]] = {"r1": [], "r2": []}
    stores = {name: Outbox(open_store()) for name in claimed}

    def claim(name: str) -> None:
        while got := stores[name].claim_due(name, 2.0, 30, 3):
            claimed[name].extend(i.id for i in got)

    threads = [threading.Thread(target=claim, args=(name,)) for name in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not set(claimed["r1"]) & set(claimed["r2"])
    assert len(claimed["r1"]) + len(claimed["r2"]) == 60


def test_two_senders_never_send_the_same_status(open_store: Callable[[], Store], gitlab: StandIn) -> None:
    setup = open_store()
    pid = _project(setup, gitlab.url, gitlab.token)
    outbox = Outbox(setup)
    shas = [f"{n:040x}" for n in range(15)]
    for state in ("pending", "running", "success"):
        for sha in shas:
            _status(outbox, pid, sha, state)
    senders = [Sender(open_store(), Settings(), owner=f"replica-{n}", timeout_s=5) for n in range(2)]

    def drain(sender: Sender) -> None:
        while sender.send_due(2.0, limit=4):
            pass

    threads = [threading.Thread(target=drain, args=(s,)) for s in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(gitlab.calls_to("POST", "/statuses/")) == 45
    for sha in shas:
        assert gitlab.states(sha) == ["pending", "running", "success"]
    assert outbox.counts() == {"sent": 45}
