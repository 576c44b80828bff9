"""How much one client may ask, and how many photos are worked on at once.

``RateLimiter`` caps requests per client address (a token bucket refilled at ``per_minute``;
failed API keys count too, which slows down guessing). ``Slots`` bounds the photos being decoded
and analysed at the same time, so memory stays bounded whatever the number of connections: a
request waits for a slot (its body still unread) and gets 503 when none frees up in time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MAX_CLIENTS = 10_000
"""Buckets kept at most; idle ones (full again) are dropped first."""


class RateLimiter:
    """At most ``per_minute`` requests per client, in bursts of up to ``per_minute``; 0 = no limit."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait_time(self, client: str) -> float:
        """0 when ``client`` may go ahead now (and counts the request), else seconds until it may."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        with self._lock:
            now = self.clock()
            tokens, then = self._buckets.get(client, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - then) * rate)
            if tokens < 1.0:
                self._buckets[client] = (tokens, now)
                return (1.0 - tokens) / rate
            self._buckets[client] = (tokens - 1.0, now)
            if len(self._buckets) > MAX_CLIENTS:
                self._forget_idle(now, rate)
            return 0.0

    def _forget_idle(self, now: float, rate: float) -> None:
        idle = [c for c, (tokens, then) in self._buckets.items() if tokens + (now - then) * rate >= self.per_minute]
        for client in idle or list(self._buckets)[: len(self._buckets) - MAX_CLIENTS]:
            del self._buckets[client]


class Slots:
    """``count`` photos in work at once; the others wait up to ``timeout`` seconds for a slot."""

    def __init__(self, count: int, timeout: float):
        self._semaphore = threading.BoundedSemaphore(count)
        self.timeout = timeout

    def acquire(self) -> bool:
        return self._semaphore.acquire(timeout=self.timeout)

    def release(self) -> None:
        self._semaphore.release()


__all__ = ["RateLimiter", "Slots"]
