"""The Worker: reserves jobs from a connection's queues in strict priority order and runs them.

The loop is :meth:`Worker.run`; running one job is :class:`~freight.queue.runner.Runner`;
acking, releasing or recording it, then logging it, then emitting its event is
:class:`~freight.queue.outcomes.Outcomes` (batched acks included); the heartbeat and
watchdog thread is :class:`~freight.queue.monitor.Monitor`; signals are
:mod:`freight.queue.signals`; retrying while the connection is down is
:class:`~freight.queue.reconnect.Reconnect`.

Exit codes of :meth:`Worker.run` (and ``python -m freight work``):

* ``0`` (:data:`EXIT_OK`): stopped normally: SIGTERM/SIGINT, ``--stop-when-empty``,
  ``--once``, ``--max-jobs`` or ``--max-time``;
* ``3`` (:data:`EXIT_HARD_TIMEOUT`): a job ignored its timeout for the grace period;
  the attempt was recorded and the process exited at once (``os._exit``);
* ``4`` (:data:`EXIT_MEMORY`): the process used more than ``--memory`` MiB (resident);
  it stopped after the current job. A worker started in a process already above the
  limit counts ``--memory`` MiB of growth from its start instead.
* ``5`` (:data:`EXIT_IMPORT`): ``max_import_failures`` jobs in a row named modules this
  worker cannot import (started in the wrong directory, or a broken deploy); those jobs
  were released with their backoff, not failed.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

from freight.app import Application
from freight.errors import ConfigurationError, QueueConnectionError
from freight.metrics import metrics_options, worker_metrics
from freight.queue.async_runner import AsyncRunner, is_async
from freight.queue.backoff import BackoffPolicy
from freight.queue.drivers.base import Queue, ReservedJob
from freight.queue.events import JobEvent, QueueEvents
from freight.queue.manager import QueueManager
from freight.queue.monitor import Monitor, resident_mb
from freight.queue.outcomes import Outcomes, Running
from freight.queue.reconnect import RECONNECT_CAP, Reconnect
from freight.queue.runner import Defaults, Runner, hard_timeout_error
from freight.queue.signals import Alarm, StopSignals

__all__ = ["EXIT_HARD_TIMEOUT", "EXIT_IMPORT", "EXIT_MEMORY", "EXIT_OK", "RECONNECT_CAP", "Worker"]

log = logging.getLogger("freight.worker")

EXIT_OK = 0
EXIT_HARD_TIMEOUT = 3
EXIT_MEMORY = 4
EXIT_IMPORT = 5

#: seconds of work one prefetched batch may hold (bounds the priority inversion of prefetching)
PREFETCH_BUDGET = 0.25
#: seconds an idle worker blocks on a server (redis BLMOVE) before it checks for a stop
IDLE_SLICE = 1.0
#: a polling driver's first idle wait after work (seconds); it doubles per empty poll up to --sleep
POLL_FIRST = 0.05


class Worker:
    """Runs jobs from ``queues`` of one connection until told to stop."""

    def __init__(
        self,
        manager_or_app: QueueManager | Application,
        connection: str | None = None,
        queues: Sequence[str] | str | None = None,
        *,
        sleep: float = 3.0,
        tries: int | None = None,
        backoff: BackoffPolicy = None,
        timeout: float | None = None,
        max_jobs: int = 0,
        max_time: float = 0,
        memory: float = 128,
        stop_when_empty: bool = False,
        once: bool = False,
        grace: float | None = 5.0,
        prefetch: int = 100,
        concurrency: int = 1,
        max_import_failures: int = 10,
        clock: Callable[[], float] = time.time,
        sleep_fn: Callable[[float], Any] | None = None,
        rand: Callable[[], float] = random.random,
        exit_fn: Callable[[int], Any] = os._exit,
        metrics: bool | None = None,
    ) -> None:
        _check_options(
            sleep=sleep,
            tries=tries,
            timeout=timeout,
            max_jobs=max_jobs,
            max_time=max_time,
            memory=memory,
            grace=grace,
            prefetch=prefetch,
            max_import_failures=max_import_failures,
            concurrency=concurrency,
        )
        if isinstance(manager_or_app, Application):
            self.manager = manager_or_app.make_current().queue()
        else:
            self.manager = manager_or_app
        self.queue: Queue = self.manager.connection(connection)
        names = queues.split(",") if isinstance(queues, str) else list(queues or [])
        self.queues = [q.strip() for q in names if q.strip()] or [self.queue.default_queue]
        self.sleep, self.max_jobs, self.max_time, self.memory = sleep, max_jobs, max_time, memory
        self.stop_when_empty, self.once, self.grace = stop_when_empty, once, grace
        self.max_import_failures = max_import_failures
        self.clock, self.exit_fn = clock, exit_fn
        self.sleep_fn: Callable[[float], Any] = sleep_fn or self._nap
        #: the connection's event listeners (shared with its QueueManager)
        self.hooks: QueueEvents = self.queue.events
        #: runs a queue operation, retrying while the connection is down (until stopping)
        self.reconnect = Reconnect(self.queue.name, lambda: self.stop_reason is not None, self.sleep_fn)
        self.outcomes = Outcomes(
            self.queue, self.manager.failed, batch=self.queue.batch_acks, guard=self.reconnect
        )
        self.runner = Runner(
            self.queue,
            self.manager.failed,
            defaults=Defaults(tries, backoff, timeout),
            clock=clock,
            rand=rand,
            alarm=Alarm(),
            outcomes=self.outcomes,
            grace=grace,
        )
        #: runs ``async def handle()`` jobs, up to ``concurrency`` at once, on its own loop
        self.aio = AsyncRunner(concurrency, settle=partial(self.runner.finish, settle=True))
        self._prefetch_max = max(1, prefetch)
        self._prefetch = 1
        self._budget = min(PREFETCH_BUDGET, self.queue.retry_after / 10)
        self._buffer: deque[ReservedJob] = deque()
        self._empty_polls = 0
        self._batch_started = 0.0
        self._batch_size = 0
        self._closing = threading.Lock()
        self.stop_reason: str | None = None
        self.exit_code = EXIT_OK
        self.processed = 0
        # metrics: None follows the configuration's ``metrics`` section, False turns them off
        app = manager_or_app if isinstance(manager_or_app, Application) else Application.current()
        section = app.config.get("metrics") if app is not None and app.queue() is self.manager else None
        options = metrics_options(section)
        if metrics is not None:
            options["enabled"] = metrics
        self.metrics = worker_metrics(self.queue, self.queues, options, lambda: self.runner.current)
        if self.metrics is not None:
            self.outcomes.observer = self.metrics.observe

    def on(self, event: str, fn: Callable[[JobEvent], Any]) -> Worker:
        """Call ``fn(event)`` on a queue event of this worker's connection (``QueueManager.on``
        registers on the same listeners); returns self."""
        self.queue.events.on(event, fn)
        return self

    def stop(self, reason: str = "stop requested") -> None:
        """Ask the worker to stop after the current job (safe from threads and signal handlers)."""
        if self.stop_reason is None:
            self.stop_reason = reason

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> int:
        """Process jobs until a stop condition; returns the exit code."""
        self._start()
        try:
            while self.stop_reason is None:
                if not self._buffer and not self._refill():
                    if self.aio.in_flight:  # running async jobs may still release retries
                        self.aio.settle(block=True, timeout=min(self.sleep, IDLE_SLICE))
                    elif self.stop_when_empty or self.once:
                        self.stop("queues empty")
                    elif self.stop_reason is None:
                        self._idle()
                        self._check_time()
                    continue
                self._process(self._buffer.popleft())
                self.processed += 1
                self._check_limits()
        finally:
            self._finish()
        return self.exit_code

    # -- steps ----------------------------------------------------------------------------
    def _process(self, job: ReservedJob) -> None:
        """Run a sync job here, or hand an async one to the loop; settle async jobs that ended."""
        running = self.runner.begin(job)
        if isinstance(running, Running):
            if is_async(running) and not self.runner.uses_workflow(running):
                self.aio.submit(running)
            else:
                self.runner.finish(running, self.runner.run_inline(running))
        if self.aio.started:
            self.aio.settle()

    def _start(self) -> None:
        self._started = self._next_memory_check = self.clock()
        self._memory_limit = float(self.memory)
        if self.memory:
            baseline = resident_mb()
            if baseline > self.memory:  # embedded in a large process: limit the growth instead
                self._memory_limit = baseline + self.memory
                log.warning(
                    "worker %d already uses %.0f MiB, over --memory %g; stopping when it "
                    "passes %.0f MiB instead",
                    os.getpid(),
                    baseline,
                    self.memory,
                    self._memory_limit,
                )
        self._signals = StopSignals(self._on_signal)
        self._signals.install()
        self.runner.alarm.install()
        self._monitor = Monitor(
            self.queue,
            self.held_jobs,
            self.running,
            self.overrun,
            interval=self.queue.retry_after / 3,
            clock=self.clock,
        )
        self._monitor.start()
        if self.metrics is not None:
            self.metrics.start()
        log.info("worker %d started on %s, queues %s", os.getpid(), self.queue.name, ",".join(self.queues))

    def _refill(self) -> bool:
        """Acknowledge finished jobs, then reserve the next batch from the first queue that has jobs."""
        now = self.clock()
        if self._batch_size:
            per_job = max(now - self._batch_started, 1e-9) / self._batch_size
            fit = max(1, int(self._budget / per_job))
            self._prefetch = min(self._prefetch_max, self._prefetch * 2, fit)
            self._batch_size = 0
        self.outcomes.flush()
        limit = 1 if self.once else self._prefetch
        if self.max_jobs:
            limit = max(1, min(limit, self.max_jobs - self.processed))
        for name in self.queues:
            try:
                jobs = self.reconnect(partial(self.queue.pop_many, name, limit))
            except QueueConnectionError:  # only raised once stopping
                return False
            if jobs:
                self._buffer.extend(jobs)
                self._empty_polls = 0
                self._batch_started, self._batch_size = self.clock(), len(jobs)
                return True
        return False

    def _idle(self) -> None:
        # a driver blocking on its server does so for at most IDLE_SLICE at a time, and one
        # that cannot (or polls) sleeps with sleep_fn, so a stop (SIGTERM) is seen at once
        if self.queue.wakes_on_push:
            timeout = min(self.sleep, IDLE_SLICE)
        elif self.queue.adaptive_poll:  # 50 ms right after work, doubling per empty poll up to --sleep
            timeout = min(self.sleep, POLL_FIRST * 2**self._empty_polls)
            self._empty_polls = min(self._empty_polls + 1, 20)
        else:
            timeout = self.sleep
        if self.max_time:  # an idle worker stops at --max-time, not a --sleep later
            timeout = max(0.0, min(timeout, self._started + self.max_time - self.clock()))
        try:
            self.reconnect(lambda: self.queue.wait(self.queues, timeout, self.sleep_fn))
        except QueueConnectionError:
            pass

    def _check_time(self) -> None:
        if self.max_time and self.clock() - self._started >= self.max_time:
            self.stop(f"--max-time {self.max_time:g}s reached")

    def _check_limits(self) -> None:
        if self.once:
            self.stop("--once")
        elif self.max_jobs and self.processed >= self.max_jobs:
            self.stop(f"--max-jobs {self.max_jobs} reached")
        elif self.max_import_failures and self.runner.import_failures >= self.max_import_failures:
            self.exit_code = EXIT_IMPORT
            log.critical(
                "worker %d: the last %d jobs named modules it cannot import (cwd %s); stopping. "
                "Start the worker in the project's directory, or set PYTHONPATH or --app",
                os.getpid(),
                self.runner.import_failures,
                os.getcwd(),
            )
            self.stop("cannot import job modules")
        elif self.max_time or self.memory:
            now = self.clock()
            if self.max_time and now - self._started >= self.max_time:
                self.stop(f"--max-time {self.max_time:g}s reached")
            elif self.memory and now >= self._next_memory_check:
                self._next_memory_check = now + 1.0
                used = resident_mb()
                if used > self._memory_limit:
                    self.exit_code = EXIT_MEMORY
                    self.stop(f"memory {used:.0f} MiB over the limit of {self._memory_limit:g} MiB")

    def _finish(self) -> None:
        if self.aio.started:  # running async jobs finish (or time out) and are settled first
            self.aio.drain(lambda: self.exit_code == EXIT_OK or self.exit_code == EXIT_MEMORY)
            self.aio.close()
        with self._closing:
            self._monitor.stop()
            self._signals.restore()
            self.runner.alarm.restore()
            self._return_held()
        if self.metrics is not None:
            self.metrics.stop()
        log.info(
            "worker %d stopped (%s) after %d jobs, exit code %d",
            os.getpid(),
            self.stop_reason or "error",
            self.processed,
            self.exit_code,
        )

    # -- helpers ------------------------------------------------------------------------------
    def held_jobs(self) -> Iterable[ReservedJob]:
        """Every job this worker holds reserved: prefetched, awaiting its ack, and running."""
        running = self.runner.current
        held = [*self._buffer, *self.outcomes.held(), *self.aio.held()]
        return [*held, running.job] if running is not None else held

    def running(self) -> Running | None:
        """The sync job in progress, else the async job closest to its hard deadline, or None."""
        current = self.runner.current
        return current if current is not None else self.aio.most_overdue()

    def _nap(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking early once a stop was requested."""
        deadline = time.monotonic() + seconds
        while self.stop_reason is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.1))

    def _return_held(self) -> None:
        """Flush acks and put unstarted reserved jobs back, un-counting their attempt."""
        try:
            self.outcomes.flush()
        except Exception as exc:
            log.error(
                "cannot acknowledge %d finished jobs on %s (they will run again): %s",
                len(self.outcomes.pending),
                self.queue.name,
                exc,
            )
        while self._buffer:
            job = self._buffer.popleft()
            job.attempts -= 1
            try:
                self.queue.release(job, 0)
            except Exception as exc:
                log.error(
                    "cannot return job %s to %s (it comes back after retry_after): %s",
                    job.id,
                    self.queue.name,
                    exc,
                )

    def _on_signal(self, signum: int) -> None:
        if self.stop_reason is None:
            log.info("worker %d got signal %d; stopping after the current job", os.getpid(), signum)
        self.stop(f"signal {signum}")

    def overrun(self, running: Running) -> None:
        """Watchdog (called by the monitor thread): the running job ignored its timeout; record and exit."""
        grace = self.grace or 0.0
        if not self.runner.give_up(running, hard_timeout_error(running, grace)):
            return
        with self._closing:
            self.exit_code = EXIT_HARD_TIMEOUT
            self.stop_reason = "hard timeout"
            log.error(
                "worker %d: job %s %s did not stop within %gs of its %gs timeout; exiting with code %d",
                os.getpid(),
                running.name,
                running.job_id,
                grace,
                running.timeout,
                EXIT_HARD_TIMEOUT,
            )
            self._return_held()
            for handler in logging.getLogger().handlers:
                handler.flush()
            sys.stdout.flush()
            sys.stderr.flush()
            self.exit_fn(EXIT_HARD_TIMEOUT)

    def __repr__(self) -> str:
        return f"<Worker {self.queue.name} queues={self.queues}>"


def _check_options(**values: float | None) -> None:
    """:class:`ConfigurationError` naming the first worker option that is not a finite,
    non-negative number (``tries``, ``timeout`` and ``grace`` may be None; ``prefetch`` >= 1)."""
    for name, value in values.items():
        if value is None and name in ("tries", "timeout", "grace"):
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        integral = name in ("tries", "max_jobs", "prefetch", "max_import_failures", "concurrency")
        at_least_one = name in ("prefetch", "concurrency")
        if (
            not number
            or not 0 <= value < float("inf")  # type: ignore[operator]
            or (integral and not isinstance(value, int))
            or (at_least_one and value < 1)  # type: ignore[operator]
        ):
            flag = "--" + name.replace("_", "-")
            kind = "a whole number" if integral else "finite seconds"
            least = "at least 1" if at_least_one else "not negative"
            raise ConfigurationError(f"worker option {flag} must be {kind}, {least}; got {value!r}")
