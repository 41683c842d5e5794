"""Running one reserved job: decode, resolve, run under its soft timeout, then ack, release or fail.

Shared by the :class:`~freight.queue.worker.Worker` and the ``sync`` driver, so both
apply the same rules:

* a payload that cannot be decoded, verified, resolved to a ``Job`` subclass or turned
  into a job goes straight to the failed-job store with the reason;
* a job reserved more times than its tries (its worker crashed or was killed by the
  hard timeout), or past its ``retry_until``, fails without running;
* a job that raises is released with its backoff while tries (and ``retry_until``)
  allow, else it fails: it is recorded in the failed-job store, then its ``failed()``
  hook runs once, then it is acknowledged.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from freight.errors import JobTimeoutError, MaxAttemptsExceededError, PayloadError
from freight.queue.backoff import BackoffPolicy, delay_for, exponential
from freight.queue.drivers.base import Queue, ReservedJob
from freight.queue.job import DEFAULT_TIMEOUT, DEFAULT_TRIES, Job
from freight.queue.payload import loads, resolve_job_class
from freight.queue.signals import Alarm
from freight.timeutil import seconds_from

if TYPE_CHECKING:
    from freight.queue.failed import FailedJobStore

__all__ = ["Defaults", "Hooks", "JobEvent", "Outcome", "Runner", "Running"]

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
class Defaults:
    """The worker's options for jobs that set none (``--tries``, ``--backoff``, ``--timeout``)."""

    tries: int | None = None
    backoff: BackoffPolicy = None
    timeout: float | None = None


@dataclass(slots=True)
class Running:
    """The job in progress, as the watchdog sees it."""

    job: ReservedJob
    instance: Job
    name: str
    job_id: str
    payload: dict[str, Any]
    tries: int
    limited: bool
    retry_until: float | None
    timeout: float
    started: float
    hard_deadline: float
    settled: bool = False


@dataclass(slots=True)
class JobEvent:
    """What a hook receives: ``event`` is processing, processed, retrying or failed."""

    event: str
    connection: str
    queue: str
    job_id: str
    job_class: str
    attempts: int
    instance: Job | None = None
    exception: BaseException | None = None
    delay: float | None = None
    duration: float | None = None
    payload: dict[str, Any] | None = None
    """the decoded payload (None for a payload that cannot be read)"""


class Hooks:
    """Plain callables run on job events; a hook that raises is logged and ignored."""

    EVENTS = ("processing", "processed", "retrying", "failed")

    def __init__(self) -> None:
        self._fns: dict[str, list[Callable[[JobEvent], Any]]] = {e: [] for e in self.EVENTS}
        self.active = False

    def on(self, event: str, fn: Callable[[JobEvent], Any]) -> None:
        """Call ``fn(JobEvent)`` on ``event``."""
        if event not in self._fns:
            raise ValueError(f"unknown worker event {event!r}; known events: {', '.join(self.EVENTS)}")
        self._fns[event].append(fn)
        self.active = True

    def emit(self, event: JobEvent) -> None:
        """Call every hook registered for ``event.event``."""
        for fn in self._fns[event.event]:
            try:
                fn(event)
            except Exception:
                log.exception("worker hook %r for %r raised", fn, event.event)


class Runner:
    """Processes reserved jobs of one connection."""

    def __init__(
        self,
        queue: Queue,
        failed_store: Callable[[], FailedJobStore],
        *,
        defaults: Defaults | None = None,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        alarm: Alarm | None = None,
        hooks: Hooks | None = None,
        ack: Callable[[ReservedJob], None] | None = None,
        guard: Callable[[Callable[[], Any]], Any] | None = None,
        grace: float | None = 5.0,
    ) -> None:
        self.queue = queue
        self.failed_store = failed_store
        self.defaults = defaults or Defaults()
        self.clock = clock
        self.rand = rand
        self.alarm = alarm or Alarm()
        self.hooks = hooks or Hooks()
        self.ack = ack or queue.ack
        self.guard: Callable[[Callable[[], Any]], Any] = guard or (lambda fn: fn())
        self.grace = grace
        self.current: Running | None = None
        self.last_error: BaseException | None = None
        self._classes: dict[str, type[Job]] = {}
        self._settle = threading.Lock()

    # -- one job ------------------------------------------------------------------------
    def process(self, job: ReservedJob) -> Outcome:
        """Run one reserved job to its outcome."""
        started = self.clock()
        self.last_error = None
        name = "?"
        try:
            payload = loads(job.raw, self.queue.signer)
            name = payload["job"]
            instance = self._instantiate(name, payload["data"])
            running = self._running(job, instance, name, payload, started)
        except PayloadError as exc:
            return self._fail_bad(job, name, exc)
        instance.attempts, instance.job_id = job.attempts, running.job_id
        instance._released = instance._failure = None
        spent = self._spent(running, started)
        if spent is not None:
            running.settled = True
            return self._fail(running, spent, started)
        if self.hooks.active:
            self._emit("processing", running)
        error: Exception | None = None
        self.current = running
        try:
            try:
                self.alarm.arm(running.timeout)
                try:
                    instance.handle()
                finally:
                    self.alarm.disarm()
            except Exception as exc:
                error = exc
        finally:  # a BaseException leaves the job reserved: it comes back after retry_after
            with self._settle:
                self.current = None
                abandoned, running.settled = running.settled, True
        if abandoned:  # the watchdog gave up on this job and recorded the attempt
            return Outcome.FAIL
        now = self.clock()
        if instance._failure is not None:
            return self._fail(running, instance._failure, now)
        if error is not None:
            return self._after_error(running, error, now)
        if instance._released is not None:
            delay = max(0.0, seconds_from(instance._released, now))
            return self._retry(running, delay, None, now, "released")
        self.ack(job)
        if log.isEnabledFor(logging.INFO):
            log.info("%s %s %.1fms DONE", name, running.job_id, (now - started) * 1000)
        if self.hooks.active:
            self._emit("processed", running, duration=now - started)
        return Outcome.DONE

    def give_up(self, running: Running, exc: BaseException) -> bool:
        """Record the attempt of a job that overran its hard limit (from the watchdog thread).

        Returns False when the job settled on its own meanwhile.
        """
        with self._settle:
            if running.settled:
                return False
            running.settled = True
        self._after_error(running, exc, self.clock())
        return True

    # -- decisions ------------------------------------------------------------------------
    def _instantiate(self, name: str, data: dict[str, Any]) -> Job:
        cls = self._classes.get(name)
        if cls is None:
            cls = resolve_job_class(name)
            self._classes[name] = cls
        try:
            return cls.from_data(data)
        except Exception as exc:
            raise PayloadError(f"job {name!r} cannot be built from its data: {exc!r}") from exc

    def _running(
        self, job: ReservedJob, instance: Job, name: str, payload: dict[str, Any], started: float
    ) -> Running:
        try:
            max_tries = payload.get("max_tries")
            fallback = self.defaults.tries if self.defaults.tries is not None else DEFAULT_TRIES
            tries = int(max_tries if max_tries is not None else fallback)
            until = payload.get("retry_until")
            retry_until = None if until is None else float(until)
            raw_timeout = payload.get("timeout")
            if raw_timeout is None:
                raw_timeout = self.defaults.timeout if self.defaults.timeout is not None else DEFAULT_TIMEOUT
            timeout = float(raw_timeout)
        except (TypeError, ValueError) as exc:
            raise PayloadError(
                f"payload of {name!r} has an invalid max_tries, timeout or retry_until"
            ) from exc
        limited = tries > 0 and (retry_until is None or max_tries is not None)
        grace = self.grace
        deadline = started + timeout + grace if timeout > 0 and grace is not None else float("inf")
        return Running(
            job,
            instance,
            name,
            str(payload["uuid"]),
            payload,
            tries,
            limited,
            retry_until,
            timeout,
            started,
            deadline,
        )

    def _spent(self, running: Running, now: float) -> MaxAttemptsExceededError | None:
        if running.retry_until is not None and now >= running.retry_until:
            return MaxAttemptsExceededError(f"{running.name} is past its retry_until deadline; not run again")
        if running.limited and running.job.attempts > running.tries:
            return MaxAttemptsExceededError(
                f"{running.name} was attempted {running.job.attempts} times, more than its {running.tries} "
                "tries (an earlier attempt crashed its worker, timed out hard, or released itself)"
            )
        return None

    def _backoff(self, running: Running) -> float:
        policy = running.payload.get("backoff")
        if policy is None:
            policy = running.instance.backoff
        if policy is None:
            policy = self.defaults.backoff
        try:
            return delay_for(policy, running.job.attempts, rand=self.rand)
        except Exception:
            log.exception("backoff of %s failed; using the default", running.name)
            return exponential(running.job.attempts, rand=self.rand)

    def _after_error(self, running: Running, error: BaseException, now: float) -> Outcome:
        delay = self._backoff(running)
        can_retry = not running.limited or running.job.attempts < running.tries
        if running.retry_until is not None and now + delay >= running.retry_until:
            can_retry = False
        if can_retry:
            return self._retry(running, delay, error, now, "")
        return self._fail(running, error, now)

    # -- outcomes --------------------------------------------------------------------------
    def _retry(
        self, running: Running, delay: float, error: BaseException | None, now: float, why: str
    ) -> Outcome:
        job = running.job
        self.guard(lambda: self.queue.release(job, delay))
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
        if self.hooks.active:
            self._emit("retrying", running, error, delay, now - running.started)
        return Outcome.RETRY

    def _fail(self, running: Running, error: BaseException, now: float) -> Outcome:
        if not self._record(running.job, running.name, error):
            return Outcome.RETRY
        try:
            running.instance.failed(error)
        except Exception:
            log.exception("the failed() hook of %s %s raised", running.name, running.job_id)
        self.ack(running.job)
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
        if self.hooks.active:
            self._emit("failed", running, error, duration=now - running.started)
        return Outcome.FAIL

    def _fail_bad(self, job: ReservedJob, name: str, error: PayloadError) -> Outcome:
        if not self._record(job, name, error):
            return Outcome.RETRY
        self.ack(job)
        self.last_error = error
        log.error("%s %s FAIL (bad payload on %s:%s): %s", name, job.id, self.queue.name, job.queue, error)
        if self.hooks.active:
            self.hooks.emit(
                JobEvent("failed", self.queue.name, job.queue, job.id, name, job.attempts, exception=error)
            )
        return Outcome.FAIL

    def _record(self, job: ReservedJob, name: str, error: BaseException) -> bool:
        try:
            self.failed_store().log(self.queue.name, job.queue, job.raw, error)
        except Exception:
            log.exception(
                "cannot record failed job %s %s; releasing it to try again in %gs",
                name,
                job.id,
                STORE_RETRY_DELAY,
            )
            self.guard(lambda: self.queue.release(job, STORE_RETRY_DELAY))
            return False
        return True

    def _emit(
        self,
        event: str,
        running: Running,
        error: BaseException | None = None,
        delay: float | None = None,
        duration: float | None = None,
    ) -> None:
        self.hooks.emit(
            JobEvent(
                event,
                self.queue.name,
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
        )


def hard_timeout_error(running: Running, grace: float) -> JobTimeoutError:
    """The error recorded for a job that ignored its soft timeout for ``grace`` seconds."""
    return JobTimeoutError(
        f"{running.name} ran past its timeout of {running.timeout:g} s and did not stop within "
        f"{grace:g} s; the worker recorded the attempt and exited"
    )
