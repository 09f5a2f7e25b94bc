"""A client-side token bucket in front of every API request the executor makes.

Why: the official Python client has no rate limiter (client-go has one: QPS 5, burst 10 by default), and an
engine that starts a 200-task fan-out at once can hurt a shared API server. Every request, including the
start of each watch and log stream, takes one token; when the bucket is empty the caller waits.

The bucket reserves rather than refuses (like Go's ``rate.Limiter.Reserve``): a caller learns how long to
wait and owes the token either way, so waiting callers are served in arrival order. It is thread-safe (log
streams and watches run on threads) and reads time only through the injected clock. It must not sleep
itself in ``reserve``; ``acquire`` and ``acquire_blocking`` do the waiting.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

DEFAULT_QPS = 50.0
DEFAULT_BURST = 100


class TokenBucket:
    """``qps`` tokens per second, at most ``burst`` saved up; ``qps <= 0`` means no limit."""

    def __init__(self, qps: float = DEFAULT_QPS, burst: int = DEFAULT_BURST, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one token; return the seconds the caller must wait before using it (0.0: go now)."""
        if self.qps <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._last)
            self._last = now
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
            self._tokens -= 1.0
            return 0.0 if self._tokens > -1e-9 else -self._tokens / self.qps  # float noise is no debt

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)

    def acquire_blocking(self) -> None:
        delay = self.reserve()
        if delay > 0:
            time.sleep(delay)
