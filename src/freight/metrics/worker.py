"""What a worker records: per queue and job class counts and histograms, backlog, heartbeats.

The worker calls :meth:`WorkerMetrics.observe` once per outcome (DONE, RETRY, FAIL)
through ``Outcomes.observer``: under a lock it adds to one row of numbers per (queue, job
class) of the current minute (a dict lookup, two bisects, a few additions) and keeps a
reference to the job for the recent-jobs log; no I/O, no event object. The recorder's
flush thread drains the rows into series, samples each queue's backlog every
``sample_every`` seconds and publishes the heartbeat (pid, host, queues, current job,
memory).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from freight.metrics.recorder import Drain, Recorder
from freight.metrics.series import BOUNDS, JOB_COUNTS, encode, minute_of

__all__ = ["WorkerMetrics", "rss_mb"]

SLOTS = len(BOUNDS) + 1
RUNTIME = len(JOB_COUNTS)  # first runtime bucket; its sum (seconds) follows the buckets
RUNTIME_SUM = RUNTIME + SLOTS
WAIT = RUNTIME_SUM + 1  # first wait bucket; its sum follows
WAIT_SUM = WAIT + SLOTS
WIDTH = WAIT_SUM + 1
#: the series metric name of every column of a row (sums are written in microseconds)
COLUMNS: tuple[str, ...] = (
    *JOB_COUNTS,
    *(f"runtime_b{i}" for i in range(SLOTS)),
    "runtime_sum_us",
    *(f"wait_b{i}" for i in range(SLOTS)),
    "wait_sum_us",
)
SUMS = frozenset({RUNTIME_SUM, WAIT_SUM})
#: finished jobs kept between two flushes for the recent-jobs log
RECENT_BUFFER = 200


def rss_mb() -> float:
    """Resident memory of this process in MiB (0 when it cannot be read)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1048576
    except (OSError, ValueError, IndexError):
        try:
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        except (ImportError, OSError):
            return 0.0


class WorkerMetrics:
    """Records the outcomes of one worker (connection ``queue``) into ``recorder``."""

    def __init__(
        self,
        queue: Any,
        queues: Sequence[str],
        recorder: Recorder,
        *,
        current: Callable[[], Any] = lambda: None,
        sample_every: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.queue = queue
        self.connection = str(queue.name)
        self.queues = list(queues)
        self.recorder = recorder
        self.current = current
        self.sample_every = sample_every
        self.clock = clock
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.started = clock()
        self.processed = 0
        self._minute = minute_of(self.started)
        self._minute_end = (self._minute + 1) * 60.0
        self._rows: dict[tuple[str, str], list[Any]] = {}
        self._closed: list[tuple[int, dict[tuple[str, str], list[Any]]]] = []
        self._recent: deque[tuple[Any, str, float, BaseException | None]] = deque(maxlen=RECENT_BUFFER)
        self._next_sample = 0.0
        self._lock = threading.Lock()
        recorder.add_source(self.drain)
        recorder.heartbeat(self.info)

    # -- the worker's thread --------------------------------------------------------------
    def observe(self, outcome: str, running: Any, now: float, error: BaseException | None) -> None:
        """Count one outcome of ``running`` (a ``Running``) with its runtime and, on a first
        attempt, its wait (push to start)."""
        try:  # recording never fails a job (a try block costs nothing when nothing raises)
            self._observe(outcome, running, now, error)
        except Exception:
            self.recorder.dropped += 1

    def _observe(self, outcome: str, running: Any, now: float, error: BaseException | None) -> None:
        # == on the str value: a dict lookup would call the enum's Python-level __hash__
        column, status = (
            (0, "done") if outcome == "DONE" else (1, "failed") if outcome == "FAIL" else (2, "retrying")
        )
        job = running.job
        started = running.started
        duration = now - started
        key = (job.queue, running.name)
        with self._lock:
            if now >= self._minute_end:
                self._rotate(now)
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = [0] * WIDTH
            row[column] += 1
            row[RUNTIME + bisect_left(BOUNDS, duration)] += 1
            row[RUNTIME_SUM] += duration
            if job.attempts == 1:
                created = running.payload.get("created_at")
                if created:
                    wait = started - created if started > created else 0.0
                    row[WAIT + bisect_left(BOUNDS, wait)] += 1
                    row[WAIT_SUM] += wait
            self.processed += 1
        self._recent.append((running, status, now, error))
        if self.processed % self.recorder.flush_every == 0:
            self.recorder.nudge()

    def _rotate(self, now: float) -> None:
        if self._rows:
            self._closed.append((self._minute, self._rows))
            self._rows = {}
        self._minute = minute_of(now)
        self._minute_end = (self._minute + 1) * 60.0

    # -- the flush thread -------------------------------------------------------------------
    def drain(self) -> Drain:
        """Rows turned into series, sampled backlogs and the finished jobs since the last drain."""
        with self._lock:
            closed, self._closed = self._closed, []
            if self._rows:
                closed.append((self._minute, self._rows))
                self._rows = {}
            recent, self._recent = self._recent, deque(maxlen=RECENT_BUFFER)
        counts: dict[tuple[int, str], int] = {}
        for minute, rows in closed:
            for (queue, job), row in rows.items():
                for index, (column, value) in enumerate(zip(COLUMNS, row, strict=True)):
                    if value:
                        key = (minute, encode(("job", self.connection, queue, job, column)))
                        counts[key] = counts.get(key, 0) + (int(value * 1e6) if index in SUMS else value)
        gauges: dict[tuple[int, str], int] = {}
        now = self.clock()
        if now >= self._next_sample:
            self._next_sample = now + self.sample_every
            for name in self.queues:
                try:
                    gauges[(minute_of(now), encode(("backlog", self.connection, name)))] = int(
                        self.queue.size(name)
                    )
                except Exception:  # a backlog sample is best effort
                    pass
        records = [
            {
                "id": running.job_id,
                "job": running.name,
                "queue": running.job.queue,
                "connection": self.connection,
                "status": status,
                "attempts": running.job.attempts,
                "runtime": finished - running.started,
                "finished_at": finished,
                "error": None if error is None else f"{type(error).__name__}: {error}"[:500],
                "worker": self.id,
            }
            for running, status, finished, error in recent
        ]
        return counts, gauges, records

    def info(self) -> tuple[str, dict[str, Any]]:
        """The heartbeat: worker id and what it is doing."""
        running = self.current()
        current = None
        if running is not None:
            current = {"id": running.job_id, "job": running.name, "queue": running.job.queue}
            current["started"] = running.started
        return self.id, {
            "id": self.id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "connection": self.connection,
            "queues": self.queues,
            "started": self.started,
            "seen": self.clock(),
            "processed": self.processed,
            "current": current,
            "memory_mb": round(rss_mb(), 1),
        }

    # -- lifetime ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start flushing in the background."""
        self.recorder.start()

    def stop(self) -> None:
        """Flush what is left (with a last backlog sample) and remove this worker's heartbeat."""
        self._next_sample = 0.0
        self.recorder.stop()
        try:
            self.recorder.store.forget_worker(self.id)
        except Exception:  # the heartbeat expires by itself
            pass
