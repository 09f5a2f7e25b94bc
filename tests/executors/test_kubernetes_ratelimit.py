"""The client-side token bucket: bursts pass at once, then callers wait their turn at the configured rate."""

from __future__ import annotations

import asyncio

import pytest

from wishstar.engine.executors.kubernetes.ratelimit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_lets_a_burst_through_without_waiting() -> None:
    bucket = TokenBucket(qps=5, burst=10, clock=FakeClock())
    assert [bucket.reserve() for _ in range(10)] == [0.0] * 10


def test_callers_beyond_the_burst_wait_one_interval_more_each() -> None:
    bucket = TokenBucket(qps=5, burst=2, clock=FakeClock())
    waits = [bucket.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.0, 0.2, 0.4, 0.6])


def test_tokens_refill_with_time_up_to_the_burst_only() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=10, burst=3, clock=clock)
    for _ in range(3):
        bucket.reserve()
    clock.now += 0.1  # one token back
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == pytest.approx(0.1)
    clock.now += 60  # a long idle time saves up at most `burst` tokens
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 0.1])


def test_a_clock_going_backwards_does_not_mint_tokens() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=1, burst=1, clock=clock)
    bucket.reserve()
    clock.now -= 10
    assert bucket.reserve() == pytest.approx(1.0)


def test_zero_qps_means_no_limit() -> None:
    bucket = TokenBucket(qps=0, burst=1, clock=FakeClock())
    assert all(bucket.reserve() == 0.0 for _ in range(1000))


def test_burst_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(qps=1, burst=0)


def test_acquire_sleeps_for_the_reserved_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    bucket = TokenBucket(qps=4, burst=1, clock=FakeClock())

    async def main() -> None:
        await bucket.acquire()
        await bucket.acquire()

    asyncio.run(main())
    assert slept == [pytest.approx(0.25)]
