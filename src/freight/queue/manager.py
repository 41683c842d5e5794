"""QueueManager: named queue connections resolved from configuration, plus the failed-job store.

The manager forwards the job-level API (``push``, ``later``, ``bulk``, ``pop``,
``size``, ``clear``) to the default connection, so ``queue.push(job)`` works.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from freight.manager import DriverFactory, Manager, clock_of
from freight.queue.drivers.base import Queue, ReservedJob
from freight.queue.events import JobEvent, QueueEvents
from freight.queue.failed import FailedJobStore, make_failed_store
from freight.timeutil import Duration

if TYPE_CHECKING:
    from freight.queue.batch import Batch
    from freight.queue.job import Job

__all__ = ["QueueManager"]

_BUILTIN = {
    "sync": "freight.queue.drivers.sync:create",
    "memory": "freight.queue.drivers.memory:create",
    "redis": "freight.queue.drivers.redis:create",
    "database": "freight.queue.drivers.database_pg:create",
}


class QueueManager(Manager[Queue]):
    """Resolves queue connections by name; forwards the queue API to the default connection."""

    kind = "connection"
    items_key = "connections"

    def __init__(
        self, config: Mapping[str, Any] | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(config)
        self.clock = clock
        #: the listeners every connection of this manager (and every worker on them) emits to
        self.events = QueueEvents()
        self._failed: FailedJobStore | None = None
        self._failed_lock = threading.Lock()

    def builtin_drivers(self) -> Mapping[str, DriverFactory[Queue] | str]:
        """``sync``, ``memory``, ``redis`` and ``database``, each imported on first use."""
        return _BUILTIN

    def prepare_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Give every driver the manager's clock (``config['clock']``) unless it has one."""
        return {**config, "clock": clock_of(config, self)}

    def adopt(self, instance: Queue) -> Queue:
        """Make a new connection emit through this manager's events."""
        instance.events = self.events
        return instance

    def on(self, event: str, fn: Callable[[JobEvent], Any]) -> QueueManager:
        """Call ``fn(JobEvent)`` on ``event`` (pushed, processing, processed, retrying, failed)
        for every connection of this manager; returns self."""
        self.events.on(event, fn)
        return self

    def connection(self, name: str | None = None) -> Queue:
        """The connection called ``name`` (default: the default connection)."""
        return self.resolve(name)

    # -- the failed-job store --------------------------------------------------------------
    def failed_config(self) -> dict[str, Any]:
        """``config['failed']``, or the default: a ``failed_jobs`` table beside the default queue."""
        configured = self.config.get("failed")
        if configured:
            return dict(configured)
        return {"driver": "database", "table": "failed_jobs"}

    def failed(self) -> FailedJobStore:
        """The failed-job store (created on first use)."""
        if self._failed is None:
            with self._failed_lock:
                if self._failed is None:
                    self._failed = make_failed_store(self.failed_config(), self)
        return self._failed

    def purge(self, name: str | None = None) -> None:
        """Close and forget a connection (every one, and the failed-job store, when None)."""
        super().purge(name)
        if name is None and self._failed is not None:
            store, self._failed = self._failed, None
            store.close()

    # -- forwarded to the default connection ---------------------------------------------
    def push(self, job: Job, queue: str | None = None) -> str | None:
        """Push ``job`` on the default connection; returns its id (None: a unique job dropped)."""
        return self.connection().push(job, queue)

    def later(self, delay: Duration, job: Job, queue: str | None = None) -> str | None:
        """Push ``job`` on the default connection to run after ``delay``; returns its id (None: a
        unique job dropped)."""
        return self.connection().later(delay, job, queue)

    def bulk(self, jobs: Iterable[Job], queue: str | None = None) -> list[str]:
        """Push many jobs on the default connection; returns their ids."""
        return self.connection().bulk(jobs, queue)

    def pop(self, queue: str | None = None) -> ReservedJob | None:
        """Reserve the next job of the default connection's ``queue``, or None."""
        return self.connection().pop(queue)

    def cancel(self, job_id: str) -> bool:
        """Remove a pending or delayed job of the default connection; True if it was waiting."""
        return self.connection().cancel(job_id)

    def find_batch(self, batch_id: str) -> Batch | None:
        """The batch ``batch_id`` of the default connection, with its current counts, or None."""
        return self.connection().find_batch(batch_id)

    def size(self, queue: str | None = None) -> int:
        """Jobs on the default connection's ``queue``."""
        return self.connection().size(queue)

    def clear(self, queue: str | None = None) -> int:
        """Delete every job on the default connection's ``queue``; returns how many."""
        return self.connection().clear(queue)

    def __repr__(self) -> str:
        return f"<QueueManager default={self.config.get('default')!r} connections={self.names()}>"
