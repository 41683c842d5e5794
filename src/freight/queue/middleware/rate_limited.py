"""``RateLimited``: at most N runs per second, minute or hour, across every worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from freight.cache.limiter import RateLimiter
from freight.queue.middleware.pipeline import current, hold_back

if TYPE_CHECKING:
    from freight.queue.job import Job

__all__ = ["RateLimited"]


class RateLimited:
    """Run the job only while the named limiter has room; otherwise hold it back (no try spent)
    until the limiter's window ends. ``store`` names a cache store (default: the connection's
    backend); ``key`` splits one limit per value (e.g. per tenant)."""

    def __init__(
        self,
        name: str,
        *,
        per_second: int | None = None,
        per_minute: int | None = None,
        per_hour: int | None = None,
        key: str = "",
        store: str | None = None,
    ) -> None:
        given = [(n, s) for n, s in ((per_second, 1), (per_minute, 60), (per_hour, 3600)) if n is not None]
        if len(given) != 1 or given[0][0] < 1:
            raise ValueError("RateLimited needs exactly one positive per_second=, per_minute= or per_hour=")
        self.max_attempts, self.decay = int(given[0][0]), float(given[0][1])
        self.key = f"rate:{name}:{key}" if key else f"rate:{name}"
        self.store = store

    def __call__(self, job: Job, next: Callable[[Job], Any]) -> Any:
        """Count this run in the window, or hold the job back until the window ends."""
        context = current()
        limiter = RateLimiter(context.cache(self.store), clock=context.clock)
        if limiter.hit(self.key, self.decay) > self.max_attempts:
            hold_back(job, max(limiter.available_in(self.key), 0.001))
            return None
        return next(job)
