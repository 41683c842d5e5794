"""Running one reserved job: decode, resolve, run under its soft timeout, then decide its outcome.

What happens once the outcome is decided (ack, release or failed-store record, then the
log line, then the event) is :mod:`freight.queue.outcomes`.

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

import asyncio
import inspect
import logging
import os
import random
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from freight.errors import JobImportError, JobTimeoutError, MaxAttemptsExceededError, PayloadError
from freight.queue.backoff import BackoffPolicy, delay_for, exponential
from freight.queue.drivers.base import Queue, ReservedJob
from freight.queue.events import JobEvent, QueueEvents
from freight.queue.job import DEFAULT_TIMEOUT, DEFAULT_TRIES, Job
from freight.queue.outcomes import STORE_RETRY_DELAY, Outcome, Outcomes, Running, job_event
from freight.queue.payload import loads, options, resolve_job_class
from freight.queue.signals import Alarm
from freight.queue.workflow import Workflow
from freight.timeutil import seconds_from

if TYPE_CHECKING:
    from freight.queue.failed import FailedJobStore

__all__ = [
    "STORE_RETRY_DELAY",
    "Defaults",
    "Hooks",
    "JobEvent",
    "Outcome",
    "Runner",
    "Running",
    "run_awaitable",
]

log = logging.getLogger("freight.worker")


@dataclass(slots=True)
class Defaults:
    """The worker's options for jobs that set none (``--tries``, ``--backoff``, ``--timeout``)."""

    tries: int | None = None
    backoff: BackoffPolicy = None
    timeout: float | None = None


#: the worker's event listeners, before they became the queue's events (an alias for one release)
Hooks = QueueEvents


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
        outcomes: Outcomes | None = None,
        grace: float | None = 5.0,
    ) -> None:
        self.queue = queue
        self.defaults = defaults or Defaults()
        self.clock = clock
        self.rand = rand
        self.alarm = alarm or Alarm()
        #: writes, logs and announces each outcome (acks, releases, failed-store records)
        self.outcomes = outcomes or Outcomes(queue, failed_store)
        self.grace = grace
        self.current: Running | None = None
        #: True when the job just finished had been given up on by the watchdog
        self.abandoned = False
        #: chains, batches, unique locks and middleware (skipped for plain jobs)
        self.workflow = Workflow(queue)
        self.outcomes.on_fail = self.workflow.failed
        self.outcomes.before_flush = self.workflow.count_done
        #: jobs in a row whose module could not be imported (the worker stops past a limit)
        self.import_failures = 0
        self._classes: dict[str, type[Job]] = {}
        self._settle = threading.Lock()

    @property
    def last_error(self) -> BaseException | None:
        """The error of the last job that failed for good (None after a job that did not fail)."""
        return self.outcomes.last_error

    # -- one job ------------------------------------------------------------------------
    def process(self, job: ReservedJob) -> Outcome:
        """Run one reserved job to its outcome (an ``async def handle()`` on a private loop)."""
        running = self.begin(job)
        if isinstance(running, Outcome):
            return running
        return self.finish(running, self.run_inline(running))

    def begin(self, job: ReservedJob) -> Running | Outcome:
        """Decode and check a reserved job: its :class:`Running` record, ready for ``handle()``, or
        the outcome already decided (a bad payload, tries or ``retry_until`` spent)."""
        started = self.clock()
        outcomes = self.outcomes
        outcomes.last_error = None
        name = "?"
        try:
            if "malformed" in job.extra:  # the driver could not read the entry itself
                raise PayloadError(str(job.extra["malformed"]))
            payload = loads(job.raw, self.queue.signer)
            name = payload["job"]
            running = self._running(job, name, payload, started)
        except PayloadError as exc:
            return outcomes.bad_payload(job, name, exc)
        spent = self._spent(running, started)  # before the import: a module that kills its
        if spent is not None:  # importer cannot crash-loop workers past the job's tries
            running.settled = True
            running.instance = self._loaded(running)
            return outcomes.fail(running, spent, started)
        try:
            instance = running.instance = self._instantiate(name, payload["data"])
        except JobImportError as exc:
            self.import_failures += 1
            log.error(
                "%s %s cannot be imported in worker %d (cwd %s): %s",
                name,
                running.job_id,
                os.getpid(),
                os.getcwd(),
                exc,
            )
            return self._after_error(running, exc, self.clock())
        except PayloadError as exc:
            return outcomes.bad_payload(job, name, exc)
        self.import_failures = 0
        instance.attempts, instance.job_id = job.attempts, running.job_id
        instance.reset_outcome()
        events = self.queue.events
        if events.active:
            events.emit(job_event(self.queue, "processing", running))
        return running

    def uses_workflow(self, running: Running) -> bool:
        """True when the job is part of a chain or batch, unique, or has middleware."""
        return running.instance is not None and self.workflow.applies(running.payload, type(running.instance))

    def run_inline(self, running: Running) -> Exception | None:
        """Call ``handle()`` in this thread under the soft timeout; the exception it raised, if any.

        An ``async def handle()`` runs to completion on a private event loop (a worker with
        ``--concurrency`` runs plain async jobs on its shared loop instead)."""
        instance = running.instance
        assert instance is not None  # begin() built it
        flow = self.uses_workflow(running)
        if flow and inspect.iscoroutinefunction(instance.handle):
            coroutine_fn = instance.handle  # middleware call handle() synchronously: run it to the end
            instance.handle = lambda: run_awaitable(coroutine_fn())  # type: ignore[method-assign]
        error: Exception | None = None
        self.current = running
        pid = os.getpid()
        try:
            try:
                self.alarm.arm(running.timeout)
                try:
                    if flow:
                        self.workflow.handle(running, instance)
                    else:
                        result = instance.handle()
                        if inspect.isawaitable(result):
                            run_awaitable(result)
                finally:
                    self.alarm.disarm()
            except Exception as exc:
                error = exc
        finally:  # a BaseException leaves the job reserved: it comes back after retry_after
            if os.getpid() != pid:  # the job forked and returned in the child: never let
                os._exit(0)  # a copy of the worker run the next job
            with self._settle:
                self.current = None
                self.abandoned, running.settled = running.settled, True
        return error

    def finish(self, running: Running, error: BaseException | None, *, settle: bool = False) -> Outcome:
        """Decide and write the outcome of a job whose ``handle()`` returned or raised ``error``.

        ``settle=True`` for a job run elsewhere (an async job): a job the watchdog gave up on
        meanwhile is left alone."""
        if settle:
            with self._settle:
                self.abandoned, running.settled = running.settled, True
        if self.abandoned:  # the watchdog gave up on this job and recorded the attempt
            return Outcome.FAIL
        outcomes = self.outcomes
        now = self.clock()
        instance = running.instance
        assert instance is not None  # begin() built it
        failure, released = instance.requested_outcome()
        if failure is not None:
            return outcomes.fail(running, failure, now)
        if error is not None:
            return self._after_error(running, error, now)
        if released is not None:
            return outcomes.retry(running, max(0.0, seconds_from(released, now)), None, now, "released")
        if self.uses_workflow(running):
            try:
                # next chain job, batch count: before the ack (with batched acks, in one count per batch)
                self.workflow.succeeded(running, defer_batch=outcomes.batch)
            except Exception as exc:
                return self._after_error(running, exc, now)
        return outcomes.done(running, now)

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

    def _running(self, job: ReservedJob, name: str, payload: dict[str, Any], started: float) -> Running:
        given = options(payload)  # PayloadError for any option out of range
        max_tries, retry_until = given.max_tries, given.retry_until
        fallback = self.defaults.tries if self.defaults.tries is not None else DEFAULT_TRIES
        tries = max_tries if max_tries is not None else fallback
        timeout = given.timeout
        if timeout is None:
            timeout = self.defaults.timeout if self.defaults.timeout is not None else DEFAULT_TIMEOUT
        limited = tries > 0 and (retry_until is None or max_tries is not None)
        grace = self.grace
        deadline = started + timeout + grace if timeout > 0 and grace is not None else float("inf")
        return Running(
            job,
            None,
            name,
            str(payload["uuid"]),
            payload,
            tries,
            limited,
            retry_until,
            timeout,
            started,
            deadline,
            backoff=given.backoff,
        )

    def _loaded(self, running: Running) -> Job | None:
        """The job built from its payload when its module is already imported, for its
        ``failed()`` hook (importing it now could crash the worker again); else None."""
        if running.name not in self._classes and running.name.partition(":")[0] not in sys.modules:
            return None
        try:
            return self._instantiate(running.name, running.payload["data"])
        except (PayloadError, JobImportError):
            return None

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
        policy: BackoffPolicy = running.backoff
        if policy is None and running.instance is not None:
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
            return self.outcomes.retry(running, delay, error, now)
        return self.outcomes.fail(running, error, now)


def run_awaitable(awaitable: Awaitable[Any]) -> Any:
    """Run ``awaitable`` to completion from sync code: on a new loop, or, when this thread
    already runs one (a sync driver pushing from a coroutine), on a new loop in a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(awaitable))
    box: list[Any] = []

    def target() -> None:
        try:
            box.append((True, asyncio.run(_await(awaitable))))
        except BaseException as exc:
            box.append((False, exc))

    thread = threading.Thread(target=target, name="freight-async-job")
    thread.start()
    thread.join()
    ok, value = box[0]
    if not ok:
        raise value
    return value


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def hard_timeout_error(running: Running, grace: float) -> JobTimeoutError:
    """The error recorded for a job that ignored its soft timeout for ``grace`` seconds."""
    return JobTimeoutError(
        f"{running.name} ran past its timeout of {running.timeout:g} s and did not stop within "
        f"{grace:g} s; the worker recorded the attempt and exited"
    )
