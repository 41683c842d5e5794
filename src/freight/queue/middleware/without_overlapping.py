"""``WithoutOverlapping``: never two jobs with the same key at once, across every worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from freight.queue.middleware.pipeline import current, hold_back
from freight.queue.payload import job_path

if TYPE_CHECKING:
    from freight.queue.job import Job

__all__ = ["WithoutOverlapping"]


class WithoutOverlapping:
    """Hold a lock named after the job class and ``key`` while the job runs; a job that finds it
    taken goes back for ``release_after`` seconds without spending a try. The lock expires after
    ``expire_after`` seconds (default: the job's timeout plus a minute, or an hour without a
    timeout), so a killed worker never leaves it stuck. ``shared=True`` shares the key across
    job classes."""

    def __init__(
        self,
        key: Any = "",
        *,
        release_after: float = 1.0,
        expire_after: float | None = None,
        shared: bool = False,
        store: str | None = None,
    ) -> None:
        self.key = str(key)
        self.release_after = release_after
        self.expire_after = expire_after
        self.shared = shared
        self.store = store

    def __call__(self, job: Job, next: Callable[[Job], Any]) -> Any:
        """Run the job holding the lock, or hold it back."""
        context = current()
        scope = "shared" if self.shared else job_path(type(job))
        expire = self.expire_after or (context.timeout + 60 if context.timeout > 0 else 3600)
        lock = context.cache(self.store).lock(f"overlap:{scope}:{self.key}", expire)
        if not lock.acquire():
            hold_back(job, self.release_after)
            return None
        try:
            return next(job)
        finally:
            lock.release()
