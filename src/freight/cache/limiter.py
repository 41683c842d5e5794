"""Rate limiting on any cache store: Laravel's ``RateLimiter`` (hit, attempts, attempt, ...).

A key counts hits in *windows* of ``decay`` seconds that start at the first hit (as in
Laravel). A window is named by its end time ``E`` (read from the repository's clock, so
tests travel in time on every store): ``limiter:<key>:timer`` holds the current ``E``
and ``limiter:<key>:<E>`` counts the window's hits with the store's atomic
``increment``. Only the store's atomic primitives are used, so every shared store
(file, redis, memcached, database) limits across processes:

* the first window is opened by ``add`` on the timer: exactly one caller wins;
* a window that is over is followed by exactly one successor, decided by ``add`` on
  ``limiter:<key>:<E>:next``; every caller that saw the old timer follows that chain,
  so two processes can never count in two different current windows;
* ``attempt`` increments first and judges the returned count, so at most ``max_attempts``
  callers per window run, however many race.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from freight.cache.repository import Repository

__all__ = ["RateLimiter"]

R = TypeVar("R")
#: the most successor windows followed in one call (a key idle for many windows restarts)
MAX_HOPS = 64


class RateLimiter:
    """Laravel's RateLimiter on one cache repository: counted hits per decaying window."""

    def __init__(
        self, cache: Repository, clock: Callable[[], float] = time.time, prefix: str = "limiter:"
    ) -> None:
        self.cache = cache
        self.clock = clock
        self.prefix = prefix

    # -- Laravel's API --------------------------------------------------------------------
    def hit(self, key: str, decay: float = 60) -> int:
        """Count one hit on ``key`` in its current window (opened now for ``decay`` seconds if
        none is open); returns the window's hits so far."""
        return self.increment(key, decay, 1)

    def increment(self, key: str, decay: float = 60, amount: int = 1) -> int:
        """Count ``amount`` hits on ``key`` at once; returns the window's hits so far."""
        if decay <= 0:
            raise ValueError(f"rate limiter decay must be positive seconds, got {decay!r}")
        end = self._window(key, decay, create=True)
        assert end is not None
        counter = self._counter(key, end)
        ttl = end - self.clock() + 1  # the count lives as long as its window (plus slack)
        self.cache.add(counter, 0, max(ttl, 1))
        return self.cache.increment(counter, amount)

    def decrement(self, key: str, decay: float = 60, amount: int = 1) -> int:
        """Take ``amount`` hits back from ``key``'s current window; returns the hits left."""
        return self.increment(key, decay, -amount)

    def attempts(self, key: str) -> int:
        """Hits counted on ``key`` in its current window (0 when no window is open)."""
        end = self._window(key, 0, create=False)
        if end is None:
            return 0
        return int(self.cache.get(self._counter(key, end)) or 0)

    def remaining(self, key: str, max_attempts: int) -> int:
        """How many more hits ``key`` may take in its current window."""
        return max(0, max_attempts - self.attempts(key))

    retries_left = remaining

    def too_many_attempts(self, key: str, max_attempts: int) -> bool:
        """True when ``key`` has used all ``max_attempts`` of its current window."""
        return self.attempts(key) >= max_attempts

    def available_in(self, key: str) -> float:
        """Seconds until ``key``'s current window ends (0 when none is open)."""
        end = self._window(key, 0, create=False)
        return 0.0 if end is None else max(0.0, end - self.clock())

    def attempt(self, key: str, max_attempts: int, fn: Callable[[], R], decay: float = 60) -> R | bool:
        """Run ``fn`` if ``key`` has an attempt left in its window (counting it), returning its
        result (True for None); False without running it otherwise. Exact across processes."""
        if self.hit(key, decay) > max_attempts:
            return False
        result = fn()
        return True if result is None else result

    def reset_attempts(self, key: str) -> None:
        """Forget the hits of ``key``'s current window (the window itself stays)."""
        end = self._window(key, 0, create=False)
        if end is not None:
            self.cache.forget(self._counter(key, end))

    def clear(self, key: str) -> None:
        """Forget ``key`` entirely: its hits and its window."""
        self.reset_attempts(key)
        self.cache.forget(self._timer(key))

    # -- windows --------------------------------------------------------------------------
    def _timer(self, key: str) -> str:
        return f"{self.prefix}{key}:timer"

    def _counter(self, key: str, end: float) -> str:
        return f"{self.prefix}{key}:{end!r}"

    def _window(self, key: str, decay: float, *, create: bool) -> float | None:
        """The end time of ``key``'s current window; opens one (or its successor) when
        ``create``, else None when no window is open."""
        cache = self.cache
        timer = self._timer(key)
        now = self.clock()
        keep = 2 * decay + 1  # outlives the window, so expiry never races the successor chain
        end: Any = cache.get(timer)
        for _ in range(MAX_HOPS):
            if end is None:
                if not create:
                    return None
                if cache.add(timer, now + decay, keep):
                    return now + decay
                end = cache.get(timer)
                if end is None:  # a store that keeps nothing (null): a window of one call
                    return now + decay
                continue
            ends = float(end)
            if ends > now:
                return ends
            successor = f"{timer}:{ends!r}:next"
            following: Any = cache.get(successor)
            if following is None:
                if not create:
                    return None
                if cache.add(successor, now + decay, keep):
                    cache.put(timer, now + decay, keep)
                    return now + decay
                following = cache.get(successor)
                if following is None:
                    return now + decay
            end = following
        return None if not create else now + decay
