"""After a job ran: the one place its outcome is written, then logged, then announced.

For every outcome the order is the same: first the queue (or failed store) is told,
then the worker's log line is written, then the event is emitted:

* **DONE**: ack → ``DONE`` line → ``processed``
* **RETRY**: release with its delay → ``RETRY`` line → ``retrying``
* **FAIL**: record in the failed-job store → the job's ``failed()`` hook → ack →
  ``FAIL`` line → ``failed``. When the record cannot be written the job is released
  for :data:`STORE_RETRY_DELAY` seconds instead (nothing is logged as failed).

A job counts as acknowledged once its ack reached the driver. With ``batch=True`` (the
worker on a driver whose ``batch_acks`` is set: redis, database) DONE acks are held in
:attr:`Outcomes.pending` and sent in one ``ack_many`` by :meth:`Outcomes.flush`, which
the worker calls before each fetch and when it stops; the DONE lines and ``processed``
events of those jobs follow that ``ack_many``. Retries and failures are written at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from freight.queue.drivers.base import Queue, ReservedJob
from freight.queue.events import JobEvent

if TYPE_CHECKING:
    from freight.queue.failed import FailedJobStore
    from freight.queue.job import Job

__all__ = ["STORE_RETRY_DELAY", "Outcome", "Outcomes", "Running"]

log = logging.getLogger("freight.worker")
T = TypeVar("T")
#: seconds before a job whose failure could not be recorded is tried again
STORE_RETRY_DELAY = 60.0


class Outcome(StrEnum):
    """What became of one reservation."""

    DONE = "DONE"
    RETRY = "RETRY"
    FAIL = "FAIL"


@dataclass(slots=True)
class Running:
    """The job in progress, as the watchdog sees it."""

    job: ReservedJob
    instance: Job | None
    """None until the job's class is imported (and when its import fails)"""
    name: str
    job_id: str
    """the payload uuid (what ``push`` returned); ``job.id`` is the driver's handle"""
    payload: dict[str, Any]
    tries: int
    limited: bool
    retry_until: float | None
    timeout: float
    started: float
    hard_deadline: float
    settled: bool = False
    backoff: float | list[float] | None = None
    """the payload's own backoff (None: the job class's, else the worker's)"""


def _call(fn: Callable[[], T]) -> T:
    return fn()


class Outcomes:
    """Writes, logs and announces job outcomes for one connection (see the module docstring)."""

    def __init__(
        self,
        queue: Queue,
        failed_store: Callable[[], FailedJobStore],
        *,
        batch: bool = False,
        guard: Callable[[Callable[[], Any]], Any] = _call,
    ) -> None:
        self.queue = queue
        self.failed_store = failed_store
        self.batch = batch
        #: runs one queue operation (the worker's retries it while the connection is down)
        self.guard = guard
        #: finished jobs awaiting their batched ack, with the time each finished
        self.pending: list[tuple[Running, float]] = []
        #: called as ``on_fail(running, error)`` beside the job's ``failed()`` hook (workflows)
        self.on_fail: Callable[[Running, BaseException], None] | None = None
        #: called with the finished jobs before their ``ack_many``; returns the ones to ack
        #: (workflows count batch members there, once per batch of acks)
        self.before_flush: Callable[[list[Running]], list[Running]] | None = None
        #: the error of the last job that failed for good (the sync driver re-raises it)
        self.last_error: BaseException | None = None
        #: ``observer(outcome, running, now, error)`` after each DONE, RETRY and FAIL (metrics
        #: recording: a direct call costs far less than building an event per job)
        self.observer: Callable[[Outcome, Running, float, BaseException | None], Any] | None = None

    # -- the outcomes -------------------------------------------------------------------
    def done(self, running: Running, now: float) -> Outcome:
        """The job succeeded: ack it (now, or with the next :meth:`flush`), then log and emit."""
        if self.batch:
            self.pending.append((running, now))  # one ack_many per batch saves a round trip per job
        else:
            self.guard(partial(self.queue.ack, running.job))
            self._report_done(running, now)
        if self.observer is not None:
            self.observer(Outcome.DONE, running, now, None)
        return Outcome.DONE

    def flush(self) -> None:
        """Acknowledge every pending job in one ``ack_many``, then log and emit each."""
        if not self.pending:
            return
        pending = self.pending
        acked = [running for running, _ in pending]
        if self.before_flush is not None:
            acked = self.guard(partial(self.before_flush, acked))
            if len(acked) != len(pending):  # the rest stay reserved and run again
                kept = {id(running) for running in acked}
                pending = [entry for entry in pending if id(entry[0]) in kept]
        self.guard(partial(self.queue.ack_many, [running.job for running in acked]))
        self.pending = []
        if self.queue.events.active or log.isEnabledFor(logging.INFO):
            for running, now in pending:
                self._report_done(running, now)

    def held(self) -> list[ReservedJob]:
        """The finished jobs still reserved until the next :meth:`flush`."""
        return [running.job for running, _ in self.pending]

    def retry(
        self, running: Running, delay: float, error: BaseException | None, now: float, why: str = ""
    ) -> Outcome:
        """Release the job to run again after ``delay`` seconds, then log and emit."""
        job = running.job
        self.guard(partial(self.queue.release, job, delay))
        if log.isEnabledFor(logging.WARNING):
            reason = f"{type(error).__name__}: {error}" if error is not None else why
            log.warning(
                "%s %s %.1fms RETRY in %gs (attempt %d/%s: %s)",
                running.name,
                running.job_id,
                (now - running.started) * 1000,
                round(delay, 3),
                job.attempts,
                running.tries if running.limited else "-",
                reason,
            )
        if self.queue.events.active:
            self._emit("retrying", running, error, delay, now - running.started)
        if self.observer is not None:
            self.observer(Outcome.RETRY, running, now, error)
        return Outcome.RETRY

    def fail(self, running: Running, error: BaseException, now: float) -> Outcome:
        """The job failed for good: record it, run its ``failed()`` hook, ack, then log and emit."""
        if not self._record(running.job, running.name, error):
            return Outcome.RETRY
        try:
            if running.instance is not None:  # None: the class was never imported
                running.instance.failed(error)
        except Exception:
            log.exception("the failed() hook of %s %s raised", running.name, running.job_id)
        if self.on_fail is not None:
            self.on_fail(running, error)
        self.guard(partial(self.queue.ack, running.job))
        self.last_error = error
        log.error(
            "%s %s %.1fms FAIL (attempt %d): %s: %s",
            running.name,
            running.job_id,
            (now - running.started) * 1000,
            running.job.attempts,
            type(error).__name__,
            error,
        )
        if self.queue.events.active:
            self._emit("failed", running, error, duration=now - running.started)
        if self.observer is not None:
            self.observer(Outcome.FAIL, running, now, error)
        return Outcome.FAIL

    def bad_payload(self, job: ReservedJob, name: str, error: BaseException) -> Outcome:
        """A payload that cannot become a job: record it, ack, then log and emit (``job_id`` is
        the driver's handle, the payload's uuid being unreadable)."""
        record_id = self._record(job, name, error)
        if not record_id:
            return Outcome.RETRY
        self.guard(partial(self.queue.ack, job))
        self.last_error = error
        # the failed record's id (the payload's uuid when readable): what `failed:show` takes
        log.error("%s %s FAIL (bad payload on %s:%s): %s", name, record_id, self.queue.name, job.queue, error)
        events = self.queue.events
        if events.active:
            events.emit(
                JobEvent("failed", self.queue.name, job.queue, job.id, name, job.attempts, exception=error)
            )
        return Outcome.FAIL

    # -- helpers --------------------------------------------------------------------------
    def _report_done(self, running: Running, now: float) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info("%s %s %.1fms DONE", running.name, running.job_id, (now - running.started) * 1000)
        if self.queue.events.active:
            self._emit("processed", running, duration=now - running.started)

    def _record(self, job: ReservedJob, name: str, error: BaseException) -> str:
        """The failed record's id, or "" when it could not be written (the job is released)."""
        try:
            return self.failed_store().log(self.queue.name, job.queue, job.raw, error)
        except Exception:
            log.exception(
                "cannot record failed job %s %s; releasing it to try again in %gs",
                name,
                job.id,
                STORE_RETRY_DELAY,
            )
            self.guard(partial(self.queue.release, job, STORE_RETRY_DELAY))
            return ""

    def _emit(
        self,
        event: str,
        running: Running,
        error: BaseException | None = None,
        delay: float | None = None,
        duration: float | None = None,
    ) -> None:
        self.queue.events.emit(job_event(self.queue, event, running, error, delay, duration))


def job_event(
    queue: Queue,
    event: str,
    running: Running,
    error: BaseException | None = None,
    delay: float | None = None,
    duration: float | None = None,
) -> JobEvent:
    """The :class:`JobEvent` of ``running`` on ``queue``."""
    return JobEvent(
        event,
        queue.name,
        running.job.queue,
        running.job_id,
        running.name,
        running.job.attempts,
        running.instance,
        error,
        delay,
        duration,
        running.payload,
    )
