"""A concurrency limiter: at most ``limit`` holders of a name at once, across processes.

``cache.funnel("reports", limit=3, block=10)`` is a set of ``limit`` slot locks
(``funnel:<name>:1`` ... ``funnel:<name>:<limit>``) taken with the store's own atomic
lock, as Laravel's ``Cache::funnel`` does. A holder takes any free slot; a slot expires
after ``release_after`` seconds, so a holder that died frees its slot by itself (a
living holder keeps it with :meth:`Funnel.refresh`). Entering waits up to ``block``
seconds for a slot, then raises :class:`~freight.errors.LockTimeoutError`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from freight.errors import LockTimeoutError

if TYPE_CHECKING:
    from freight.cache.lock import Lock
    from freight.cache.repository import Repository

__all__ = ["Funnel"]

R = TypeVar("R")


class Funnel:
    """``limit`` slots of one name; ``with funnel:`` holds one for the block's duration."""

    #: seconds between rounds of attempts while waiting for a slot (doubles up to 4x)
    poll_interval = 0.02

    def __init__(
        self,
        cache: Repository,
        name: str,
        limit: int,
        block: float = 0,
        release_after: float = 60,
        *,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"funnel {name!r}: limit must be a positive int, got {limit!r}")
        if release_after <= 0:
            raise ValueError(f"funnel {name!r}: release_after must be positive seconds")
        self.cache = cache
        self.name = name
        self.limit = limit
        self.block = block
        self.release_after = release_after
        self.held: Lock | None = None
        self._sleep = sleep
        self._clock = clock

    def acquire(self) -> bool:
        """Try every slot once (from a random one, to spread contention); True if one is held."""
        if self.held is not None:
            return True
        start = random.randrange(self.limit)
        for i in range(self.limit):
            slot = (start + i) % self.limit + 1
            lock = self.cache.lock(f"funnel:{self.name}:{slot}", self.release_after)
            if lock.acquire():
                self.held = lock
                return True
        return False

    def wait(self, block: float | None = None) -> bool:
        """Try for a slot for up to ``block`` seconds (default: the funnel's); True if held."""
        deadline = self._clock() + (self.block if block is None else block)
        pause = self.poll_interval
        while not self.acquire():
            left = deadline - self._clock()
            if left <= 0:
                return False
            self._sleep(min(pause * random.uniform(0.5, 1.5), left))
            pause = min(pause * 2, self.poll_interval * 4)
        return True

    def release(self) -> bool:
        """Give the held slot back; False if none was held (or it had expired)."""
        held, self.held = self.held, None
        return held.release() if held is not None else False

    def refresh(self, seconds: float | None = None) -> bool:
        """Keep the held slot for ``seconds`` more (default ``release_after``)."""
        return self.held is not None and self.held.refresh(seconds or self.release_after)

    def then(self, fn: Callable[[], R], failure: Callable[[], R] | None = None) -> R:
        """Run ``fn`` holding a slot (waiting up to ``block``); with no slot, run ``failure``
        or raise :class:`LockTimeoutError`."""
        if not self.wait():
            if failure is not None:
                return failure()
            raise self._timeout()
        try:
            return fn()
        finally:
            self.release()

    def _timeout(self) -> LockTimeoutError:
        return LockTimeoutError(
            f"funnel {self.name!r}: all {self.limit} slots stayed taken for {self.block:g} s; "
            "raise block= or limit=, or check for holders that never finish"
        )

    def __enter__(self) -> Funnel:
        if not self.wait():
            raise self._timeout()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<Funnel {self.name!r} limit={self.limit} held={self.held is not None}>"
