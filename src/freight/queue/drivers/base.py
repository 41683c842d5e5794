"""The Queue protocol every queue driver implements, with the public push API derived once.

A driver stores opaque payload strings (JSON produced by :mod:`freight.queue.payload`)
in named queues and hands them out *reserved*: a popped job stays invisible until
it is acknowledged (``ack``), put back (``release``), or its reservation expires
(``retry_after`` seconds, extended by ``extend`` while the job runs).

What a driver implements (each method's docstring is its contract):

* always: ``push_raw``, ``pop_many``, ``ack``, ``release``, ``extend``, ``size``, ``clear``;
* for speed, with an honest default here: ``push_raw_many`` (a loop of ``push_raw``),
  ``ack_many`` (a loop of ``ack``; set ``batch_acks`` when yours is one round trip),
  ``wait`` (sleeps the timeout; set ``wakes_on_push`` when yours returns on a push);
* when it has them: ``create_tables`` (set ``has_tables``), ``close``.

``pop``, ``push``, ``later`` and ``bulk`` are written once, here.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from freight.errors import ConfigurationError, PayloadError, QueueError
from freight.queue import batch, unique
from freight.queue import payload as payloads
from freight.queue.batch import Batch, BatchRepository, MemoryBatches
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
    """the driver's handle for this job: the row id on databases, a random envelope id on redis,
    an entry id in memory; not the payload uuid that ``push`` returned (that is in ``raw``)"""
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
    #: True when jobs survive this process (redis, database); False for sync and memory (not
    #: to be confused with ``Store.persists``: whether a cache store keeps values at all)
    persistent: ClassVar[bool] = True
    #: True when wait() blocks on the server and returns as soon as a job is pushed
    wakes_on_push: ClassVar[bool] = False
    #: True when an idle worker should poll adaptively (50 ms after work, doubling up to
    #: --sleep): wait() polls, and stops early for a job falling due, so short polls cost
    #: only queries
    adaptive_poll: ClassVar[bool] = False
    #: False when a released job runs again at once whatever its delay (sync), so a job held
    #: back by a middleware spends its try there (else it would run again and again)
    honours_delays: ClassVar[bool] = True
    #: True when ack_many() deletes a batch in one round trip, so the worker batches its acks
    batch_acks: ClassVar[bool] = False
    #: True when the driver keeps its jobs in tables that create_tables() makes (database)
    has_tables: ClassVar[bool] = False

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
        self._batch_repo: BatchRepository | None = None

    # -- primitives -------------------------------------------------------------------
    @abstractmethod
    def push_raw(self, raw: str, queue: str, delay: float = 0) -> None:
        """Store one payload on ``queue``, available after ``delay`` seconds."""

    @abstractmethod
    def pop_many(self, queue: str | None = None, limit: int = 1) -> list[ReservedJob]:
        """Reserve up to ``limit`` available jobs of ``queue`` (oldest first, expired reservations
        included) for ``retry_after`` seconds, counting one attempt each."""

    @abstractmethod
    def ack(self, job: ReservedJob) -> None:
        """Delete a reserved job: it is done (or recorded as failed)."""

    @abstractmethod
    def release(self, job: ReservedJob, delay: float = 0) -> None:
        """Put a reserved job back on its queue, available after ``delay`` seconds."""

    @abstractmethod
    def extend(self, job: ReservedJob, seconds: float | None = None) -> bool:
        """Push a running job's reservation deadline ``seconds`` (default ``retry_after``) ahead."""

    def counts(self, queue: str | None = None) -> tuple[int, int, int]:
        """``(ready, delayed, reserved)`` jobs on ``queue`` (a driver that cannot tell them
        apart reports them all as ready)."""
        return self.size(queue), 0, 0

    def describe(self) -> str:
        """Where the jobs live, for logs and ``python -m freight about`` (an address, never a password)."""
        return self.driver

    def queue_names(self) -> list[str]:
        """The queues holding jobs on this connection, sorted (the default queue always)."""
        return [self.default_queue]

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

    def pop(self, queue: str | None = None) -> ReservedJob | None:
        """Reserve the next available job on ``queue`` for ``retry_after`` seconds, or None."""
        jobs = self.pop_many(queue, 1)
        return jobs[0] if jobs else None

    def wait(self, queues: Sequence[str], timeout: float, sleep: Callable[[float], Any] = time.sleep) -> None:
        """Block until a job may be available on ``queues`` or ``timeout`` passes; a driver
        that cannot block on its server waits with ``sleep`` (the worker's wakes on a stop)."""
        sleep(timeout)

    def create_tables(self) -> None:
        """Create the driver's tables if missing (``queue:table``); nothing for drivers without tables."""

    def close(self) -> None:
        """Release connections."""

    # -- the job-level API --------------------------------------------------------------
    def queue_name(self, queue: str | None) -> str:
        """The queue to use when ``queue`` is None."""
        return queue or self.default_queue

    def push(self, job: Job, queue: str | None = None) -> str | None:
        """Push ``job`` (on ``queue``, else the job's queue, else the connection's); return its id,
        or None when a ``unique`` job was dropped because an equal one is queued."""
        if job.unique:
            return self._push_unique(job, queue, None)
        raw, target, delay, job_id = self._encode(job, queue, None, self.clock())
        self.push_raw(raw, target, delay)
        if self.events.active:
            self._pushed(job, target, job_id, delay)
        return job_id

    def later(self, delay: Duration, job: Job, queue: str | None = None) -> str | None:
        """Push ``job`` to run after ``delay`` (seconds, timedelta or datetime); return its id
        (None when a ``unique`` job was dropped)."""
        if job.unique:
            return self._push_unique(job, queue, delay)
        raw, target, seconds, job_id = self._encode(job, queue, delay, self.clock())
        self.push_raw(raw, target, seconds)
        if self.events.active:
            self._pushed(job, target, job_id, seconds)
        return job_id

    def bulk(self, jobs: Iterable[Job], queue: str | None = None) -> list[str]:
        """Push many jobs in one round trip where the driver allows; return their ids (a
        ``unique`` job whose lock is held is left out)."""
        now = self.clock()
        jobs = list(jobs)
        if any(job.unique for job in jobs):
            jobs = [job for job in jobs if self.claim_unique(job)]
        try:
            encoded = [self._encode(job, queue, None, now) for job in jobs]
            if encoded:
                self.push_raw_many([(raw, target, delay) for raw, target, delay, _ in encoded])
        except BaseException:
            self._unclaim(jobs)
            raise
        if encoded and self.events.active:
            for job, (_, target, delay, job_id) in zip(jobs, encoded, strict=True):
                self._pushed(job, target, job_id, delay)
        return [job_id for *_, job_id in encoded]

    def _push_unique(self, job: Job, queue: str | None, delay: Duration | None) -> str | None:
        if not self.claim_unique(job):
            return None
        try:
            raw, target, seconds, job_id = self._encode(job, queue, delay, self.clock())
            self.push_raw(raw, target, seconds)
        except BaseException:
            self._unclaim([job])
            raise
        if self.events.active:
            self._pushed(job, target, job_id, seconds)
        return job_id

    def claim_unique(self, job: Job) -> bool:
        """For a ``unique`` job, take its lock (once) and put it in the job's payload fields;
        False when an equal job holds it. True for any other job."""
        extra = job.extra_payload or {}
        if not job.unique or "unique" in extra:
            return True
        held = unique.claim(self, job)
        if held is None:
            return False
        job.extra_payload = {**extra, "unique": held}
        return True

    def _unclaim(self, jobs: Iterable[Job]) -> None:
        """Release the unique locks taken for jobs whose push failed."""
        for job in jobs:
            held = (job.extra_payload or {}).pop("unique", None)
            if held is not None:
                unique.release(self, held)

    # -- workflows: cancellation, batches, the connection's cache -------------------------
    def cancel(self, job_id: str) -> bool:
        """Remove the pending or delayed job ``job_id`` (what push returned) so it never runs;
        True if it was waiting (a running job cannot be cancelled). Its unique lock is
        released; in a batch it counts as processed; the rest of its chain goes with it."""
        raw = self.cancel_raw(job_id)
        if raw is None:
            return False
        try:
            payload = payloads.loads(raw, self.signer)
        except PayloadError:
            return True
        held = payload.get("unique")
        if isinstance(held, dict):
            unique.release(self, held)
        member = payload.get("batch")
        if isinstance(member, dict) and "callback" not in member:
            batch.settle(self, str(member["id"]), [job_id], False)
        return True

    def cancel_raw(self, job_id: str) -> str | None:
        """Delete the waiting job whose payload uuid is ``job_id``; its payload, or None."""
        raise QueueError(f"the {self.driver!r} queue driver cannot cancel jobs")

    def batches(self) -> BatchRepository:
        """Where this connection keeps its batches (process memory unless the driver has a backend)."""
        if self._batch_repo is None:
            self._batch_repo = MemoryBatches()
        return self._batch_repo

    def find_batch(self, batch_id: str) -> Batch | None:
        """The batch ``batch_id`` of this connection, with its current counts, or None."""
        state = self.batches().find(batch_id)
        return None if state is None else Batch.bound(self, state)

    def cache_config(self) -> dict[str, Any]:
        """A cache store configuration on this connection's backend (unique locks, limiters)."""
        return {"driver": "array"}

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
        # speed: a plain finite number skips seconds_from's isinstance chain (about 0.2 µs per
        # push); NaN and infinity go there and raise
        kind = type(delay)
        finite = kind is int or (kind is float and delay - delay == 0.0)  # type: ignore[operator]
        seconds = float(delay) if finite else seconds_from(delay, now)  # type: ignore[arg-type]
        return payloads.dumps(data, self.signer), target, max(0.0, seconds), data["uuid"]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
