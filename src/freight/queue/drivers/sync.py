"""The ``sync`` driver: runs each job inside ``push``, for tests and local development.

It uses the worker's own single-job processing (:class:`~freight.queue.runner.Runner`),
so tries, backoff bookkeeping, ``release()``, ``fail()``, ``failed()`` and the
failed-job store behave as under a worker, with three differences:

* delays are not slept: ``later()``, a job's ``delay`` and a retry's backoff run it
  again at once, up to its tries;
* there is no timeout (no SIGALRM is armed in the caller's process) and no heartbeat;
* when a job fails for good, ``push`` raises its exception after recording it (set
  ``raise_exceptions = false`` on the connection to only record it).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from freight.manager import clock_of
from freight.queue.drivers.base import Queue, ReservedJob
from freight.queue.runner import Outcome, Runner

if TYPE_CHECKING:
    from freight.queue.failed import FailedJobStore

__all__ = ["SyncQueue", "create"]


class SyncQueue(Queue):
    """Runs jobs immediately, in the pushing thread."""

    driver: ClassVar[str] = "sync"
    persistent: ClassVar[bool] = False
    #: a released job runs again at once: a held-back job spends its try
    honours_delays: ClassVar[bool] = False

    def __init__(
        self, *, failed_store: Callable[[], FailedJobStore], raise_exceptions: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.raise_exceptions = raise_exceptions
        self.runner = Runner(self, failed_store, clock=self.clock, grace=None)
        self._local = threading.local()

    def push_raw(self, raw: str, queue: str, delay: float = 0) -> None:
        """Run the job now, again at once after each retry, until it is done or has failed."""
        job: ReservedJob | None = ReservedJob(uuid.uuid4().hex, queue, raw, 1, self.name)
        while job is not None:
            self._local.released = None
            outcome = self.runner.process(job)
            job, self._local.released = self._local.released, None
            if outcome is Outcome.FAIL and self.raise_exceptions and self.runner.last_error is not None:
                raise self.runner.last_error

    def pop_many(self, queue: str | None = None, limit: int = 1) -> list[ReservedJob]:
        """Nothing is ever waiting: an empty list."""
        return []

    def ack(self, job: ReservedJob) -> None:
        """Nothing to delete."""

    def release(self, job: ReservedJob, delay: float = 0) -> None:
        """Run the job again as soon as the current attempt has been handled."""
        self._local.released = ReservedJob(job.id, job.queue, job.raw, job.attempts + 1, self.name)

    def extend(self, job: ReservedJob, seconds: float | None = None) -> bool:
        """Nothing expires."""
        return True

    def cancel_raw(self, job_id: str) -> str | None:
        """Nothing ever waits: None."""
        return None

    def size(self, queue: str | None = None) -> int:
        """Always 0."""
        return 0

    def clear(self, queue: str | None = None) -> int:
        """Nothing to clear: 0."""
        return 0


def create(config: dict[str, Any], manager: Any) -> SyncQueue:
    """Factory: ``queue`` (default ``default``), ``key`` (sign payloads), ``raise_exceptions``."""
    return SyncQueue(
        failed_store=manager.failed,
        raise_exceptions=bool(config.get("raise_exceptions", True)),
        name=str(config.get("name") or "sync"),
        queue=str(config.get("queue") or "default"),
        key=config.get("key"),
        clock=clock_of(config, manager),
    )
