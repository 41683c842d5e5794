"""The Queue protocol every queue driver implements, with the public push API derived once.

A driver stores opaque payload strings (JSON produced by :mod:`freight.queue.payload`)
in named queues and hands them out *reserved*: a popped job stays invisible until
it is acknowledged (``ack``), put back (``release``), or its reservation expires
(``retry_after`` seconds, extended by ``extend`` while the job runs).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from freight.errors import ConfigurationError, PayloadError
from freight.queue import payload as payloads
from freight.queue.events import JobEvent, QueueEvents
from freight.serialization import Signer
from freight.timeutil import Duration, seconds_from

if TYPE_CHECKING:
    from freight.queue.job import Job

__all__ = ["Queue", "ReservedJob", "seconds_setting"]


def seconds_setting(value: object, where: str) -> float:
    """``value`` as a positive, finite number of seconds; :class:`ConfigurationError` otherwise."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not 0 < float(value) < float("inf"):  # type: ignore[arg-type]
        raise ConfigurationError(f"{where} must be a positive, finite number of seconds, got {value!r}")
    return float(value)  # type: ignore[arg-type]


@dataclass(slots=True)
class ReservedJob:
    """A job handed to a worker; it stays reserved until acked, released or expired."""

    id: str
    """the driver's handle for this job (the payload uuid on redis, the row id on databases)"""
    queue: str
    raw: str
    """the payload exactly as stored"""
    attempts: int
    """how many times the job has been reserved, this time included"""
    connection: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    """driver-private bookkeeping (e.g. a reservation token)"""


class Queue(ABC):
    """A queue connection: raw primitives implemented by a driver, job-level API derived."""

    driver: ClassVar[str] = "abstract"
    #: True when jobs survive this process (redis, database); False for sync
    persistent: ClassVar[bool] = True
    #: True when wait() blocks on the server and returns as soon as a job is pushed
    wakes_on_push: ClassVar[bool] = False
    #: True when ack_many() deletes a batch in one round trip, so the worker batches its acks
    batch_acks: ClassVar[bool] = False

    def __init__(
        self,
        *,
        name: str = "",
        queue: str = "default",
        retry_after: float = 90,
        key: str | bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name or self.driver
        self.default_queue = queue
        self.retry_after = seconds_setting(retry_after, f"queue connection {self.name!r} retry_after")
        self.signer = Signer(key, purpose="queue") if key is not None else None
        self.clock = clock
        #: listeners of pushed/processing/processed/retrying/failed (the QueueManager's, once resolved)
        self.events = QueueEvents()

    # -- primitives -------------------------------------------------------------------
    @abstractmethod
    def push_raw(self, raw: str, queue: str, delay: float = 0) -> None:
        """Store one payload on ``queue``, available after ``delay`` seconds."""

    @abstractmethod
    def ack(self, job: ReservedJob) -> None:
        """Delete a reserved job: it is done (or recorded as failed)."""

    @abstractmethod
    def release(self, job: ReservedJob, delay: float = 0) -> None:
        """Put a reserved job back on its queue, available after ``delay`` seconds."""

    @abstractmethod
    def extend(self, job: ReservedJob, seconds: float | None = None) -> bool:
        """Push a running job's reservation deadline ``seconds`` (default ``retry_after``) ahead."""

    @abstractmethod
    def size(self, queue: str | None = None) -> int:
        """Jobs on ``queue``: ready, delayed and reserved."""

    @abstractmethod
    def clear(self, queue: str | None = None) -> int:
        """Delete every job on ``queue``; return how many were deleted."""

    # -- derived, overridden for speed ---------------------------------------------------
    def ack_many(self, jobs: Sequence[ReservedJob]) -> None:
        """Delete many reserved jobs (one round trip where the driver can; see ``batch_acks``)."""
        for job in jobs:
            self.ack(job)

    def push_raw_many(self, items: Sequence[tuple[str, str, float]]) -> None:
        """Store many ``(raw, queue, delay)`` payloads (one round trip where possible)."""
        for raw, queue, delay in items:
            self.push_raw(raw, queue, delay)

    # a driver implements pop() or pop_many(); each is derived from the other
    def pop(self, queue: str | None = None) -> ReservedJob | None:
        """Reserve the next available job on ``queue`` for ``retry_after`` seconds, or None."""
        if type(self).pop_many is Queue.pop_many:
            raise NotImplementedError(f"{type(self).__name__} must implement pop() or pop_many()")
        jobs = self.pop_many(queue, 1)
        return jobs[0] if jobs else None

    def pop_many(self, queue: str | None = None, limit: int = 1) -> list[ReservedJob]:
        """Reserve up to ``limit`` jobs from ``queue``."""
        if type(self).pop is Queue.pop:
            raise NotImplementedError(f"{type(self).__name__} must implement pop() or pop_many()")
        jobs: list[ReservedJob] = []
        while len(jobs) < limit:
            job = self.pop(queue)
            if job is None:
                break
            jobs.append(job)
        return jobs

    def wait(self, queues: Sequence[str], timeout: float, sleep: Callable[[float], Any] = time.sleep) -> None:
        """Block until a job may be available on ``queues`` or ``timeout`` passes; a driver
        that cannot block on its server waits with ``sleep`` (the worker's wakes on a stop)."""
        sleep(timeout)

    def close(self) -> None:
        """Release connections."""

    # -- the job-level API --------------------------------------------------------------
    def queue_name(self, queue: str | None) -> str:
        """The queue to use when ``queue`` is None."""
        return queue or self.default_queue

    def push(self, job: Job, queue: str | None = None) -> str:
        """Push ``job`` (on ``queue``, else the job's queue, else the connection's); return its id."""
        raw, target, delay, job_id = self._encode(job, queue, None, self.clock())
        self.push_raw(raw, target, delay)
        if self.events.active:
            self._pushed(job, target, job_id, delay)
        return job_id

    def later(self, delay: Duration, job: Job, queue: str | None = None) -> str:
        """Push ``job`` to run after ``delay`` (seconds, timedelta or datetime); return its id."""
        raw, target, seconds, job_id = self._encode(job, queue, delay, self.clock())
        self.push_raw(raw, target, seconds)
        if self.events.active:
            self._pushed(job, target, job_id, seconds)
        return job_id

    def bulk(self, jobs: Iterable[Job], queue: str | None = None) -> list[str]:
        """Push many jobs in one round trip where the driver allows; return their ids."""
        now = self.clock()
        jobs = list(jobs)
        encoded = [self._encode(job, queue, None, now) for job in jobs]
        if encoded:
            self.push_raw_many([(raw, target, delay) for raw, target, delay, _ in encoded])
            if self.events.active:
                for job, (_, target, delay, job_id) in zip(jobs, encoded, strict=True):
                    self._pushed(job, target, job_id, delay)
        return [job_id for *_, job_id in encoded]

    def _pushed(self, job: Job, queue: str, job_id: str, delay: float) -> None:
        """Emit ``pushed`` for a job just stored."""
        if self.events.listens("pushed"):
            event = JobEvent(
                "pushed", self.name, queue, job_id, payloads.job_path(type(job)), 0, job, delay=delay
            )
            self.events.emit(event)

    def _encode(
        self, job: Job, queue: str | None, delay: Duration | None, now: float
    ) -> tuple[str, str, float, str]:
        """``(payload, queue, delay in seconds, job id)`` for pushing ``job``."""
        target = queue or job.queue or self.default_queue
        if delay is None:
            delay = job.delay or 0
        data = payloads.build(job, target, now)
        if self.persistent and data["job"].startswith("__main__:"):
            raise PayloadError(
                f"job class {data['job']!r} is defined in the script being run, which a worker "
                "cannot import; move it into an importable module"
            )
        seconds = delay if type(delay) is int or type(delay) is float else seconds_from(delay, now)
        return payloads.dumps(data, self.signer), target, max(0.0, seconds), data["uuid"]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
