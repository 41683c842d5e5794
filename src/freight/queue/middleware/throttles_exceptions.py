"""``ThrottlesExceptions``: back off a failing dependency for every job that uses it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from freight.cache.limiter import RateLimiter
from freight.queue.middleware.pipeline import current, hold_back
from freight.queue.payload import job_path

if TYPE_CHECKING:
    from freight.queue.job import Job

__all__ = ["ThrottlesExceptions"]


class ThrottlesExceptions:
    """A circuit breaker: after ``max_attempts`` exceptions within ``decay`` seconds, jobs of this
    key are held back (no try spent) until the window ends; an exception still counts as a
    try of the job that raised it, and a success closes the circuit. ``key`` defaults to the
    job class."""

    def __init__(
        self, max_attempts: int = 10, decay: float = 600, *, key: str = "", store: str | None = None
    ) -> None:
        if max_attempts < 1 or decay <= 0:
            raise ValueError("ThrottlesExceptions needs max_attempts >= 1 and a positive decay")
        self.max_attempts = max_attempts
        self.decay = decay
        self.key = key
        self.store = store

    def __call__(self, job: Job, next: Callable[[Job], Any]) -> Any:
        """Run the job unless the circuit is open; count its exceptions."""
        context = current()
        limiter = RateLimiter(context.cache(self.store), clock=context.clock)
        key = f"throttle:{self.key or job_path(type(job))}"
        if limiter.too_many_attempts(key, self.max_attempts):
            hold_back(job, max(limiter.available_in(key), 0.001))
            return None
        try:
            result = next(job)
        except Exception:
            limiter.hit(key, self.decay)
            raise
        limiter.clear(key)
        return result
