"""Failure throttling for the token endpoint, kept in memory per replica (with
several replicas each keeps its own count; see docs/operations.md)."""

from __future__ import annotations

import time
from collections import deque


class FailureThrottle:
    def __init__(self, max_failures: int, window_seconds: float, max_keys: int = 100_000):
        self.max_failures = max_failures
        self.window = window_seconds
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        entries = self._failures.get(key)
        if entries is None:
            return deque()
        while entries and entries[0] <= now - self.window:
            entries.popleft()
        if not entries:
            self._failures.pop(key, None)
        return entries

    def retry_after(self, *keys: str) -> int:
        """Seconds until the caller may try again, or 0 when not throttled."""
        now = time.monotonic()
        wait = 0.0
        for key in keys:
            entries = self._recent(key, now)
            if len(entries) >= self.max_failures:
                wait = max(wait, entries[0] + self.window - now)
        return int(wait) + 1 if wait > 0 else 0

    def fail(self, *keys: str) -> None:
        now = time.monotonic()
        if len(self._failures) > self.max_keys:
            self._failures.clear()
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def succeed(self, key: str) -> None:
        self._failures.pop(key, None)


class RateLimiter:
    """A fixed-window request counter per key (public, unauthenticated routes)."""

    def __init__(self, per_window: int, window_seconds: float = 60):
        self.per_window = per_window
        self.window = window_seconds
        self._counts: dict[str, tuple[float, int]] = {}

    def hit(self, key: str) -> int:
        """Count a request; returns Retry-After seconds when over the limit, else 0."""
        now = time.monotonic()
        start, count = self._counts.get(key, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        count += 1
        if len(self._counts) > 100_000:
            self._counts.clear()
        self._counts[key] = (start, count)
        if count > self.per_window:
            return int(start + self.window - now) + 1
        return 0
