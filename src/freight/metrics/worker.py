"""What a worker records: per queue and job class counts and histograms, backlog, heartbeats.

The worker's job events (processing, processed, retrying, failed) update one row of
integers per (minute, connection, queue, job class) under a lock: a dict lookup and
a few additions per event, no I/O. The recorder's flush thread drains the rows into
series, samples each queue's backlog every ``sample_every`` seconds and publishes the
heartbeat (pid, host, queues, current job, memory).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from freight.metrics.recorder import Drain, Recorder
from freight.metrics.series import BOUNDS, JOB_COUNTS, encode, histogram_slot, minute_of

__all__ = ["WorkerMetrics", "rss_mb"]

SLOTS = len(BOUNDS) + 1
RUNTIME = len(JOB_COUNTS)  # first runtime bucket; its sum (microseconds) follows the buckets
WAIT = RUNTIME + SLOTS + 1  # first wait bucket; its sum follows
WIDTH = WAIT + SLOTS + 1
#: the series metric name of every column of a row
COLUMNS: tuple[str, ...] = (
    *JOB_COUNTS,
    *(f"runtime_b{i}" for i in range(SLOTS)),
    "runtime_sum_us",
    *(f"wait_b{i}" for i in range(SLOTS)),
    "wait_sum_us",
)
#: finished jobs kept between two flushes for the recent-jobs log
RECENT_BUFFER = 200
STATUS = {"processed": "done", "failed": "failed", "retrying": "retrying"}


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
    """Records the job events of one worker (connection ``queue``) into ``recorder``."""

    def __init__(
        self,
        queue: Any,
        queues: Sequence[str],
        recorder: Recorder,
        *,
        sample_every: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.queue = queue
        self.connection = str(queue.name)
        self.queues = list(queues)
        self.recorder = recorder
        self.sample_every = sample_every
        self.clock = clock
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.started = clock()
        self.processed = 0
        self.current: dict[str, Any] | None = None
        self._rows: dict[tuple[int, str, str, str], list[int]] = {}
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_BUFFER)
        self._pending = 0
        self._next_sample = 0.0
        self._lock = threading.Lock()
        self._thread: int | None = None  # the worker's thread: listeners are shared per manager
        recorder.add_source(self.drain)
        recorder.heartbeat(self.info)

    def listen(self, on: Callable[[str, Callable[[Any], Any]], Any]) -> WorkerMetrics:
        """Register this recorder's callbacks with ``on(event, fn)`` (``Worker.on``); returns self."""
        on("processing", self.processing)
        for event in ("processed", "failed", "retrying"):
            on(event, self.finished)
        return self

    # -- events (the worker's thread) -----------------------------------------------------
    def processing(self, event: Any) -> None:
        """A job starts: remember it as current and record its wait (first attempts only)."""
        if self._thread != threading.get_ident() or event.connection != self.connection:
            return
        now = self.clock()
        self.current = {"id": event.job_id, "job": event.job_class, "queue": event.queue, "started": now}
        payload = getattr(event, "payload", None)
        pushed = payload.get("created_at") if isinstance(payload, dict) else getattr(event, "pushed_at", None)
        if event.attempts <= 1 and isinstance(pushed, int | float) and pushed > 0:
            wait = max(0.0, now - float(pushed))
            with self._lock:
                row = self._row(now, event)
                row[WAIT + histogram_slot(wait)] += 1
                row[WAIT + SLOTS] += int(wait * 1e6)

    def finished(self, event: Any) -> None:
        """A job was processed, retried or failed: count it and its runtime."""
        if self._thread != threading.get_ident() or event.connection != self.connection:
            return
        now = self.clock()
        kind = event.event
        duration = event.duration
        with self._lock:
            row = self._row(now, event)
            row[0 if kind == "processed" else 1 if kind == "failed" else 2] += 1
            if duration is not None:
                row[RUNTIME + histogram_slot(duration)] += 1
                row[RUNTIME + SLOTS] += int(duration * 1e6)
            self._pending += 1
        self.current = None
        self.processed += 1
        error = event.exception
        self._recent.append(
            {
                "id": event.job_id,
                "job": event.job_class,
                "queue": event.queue,
                "connection": self.connection,
                "status": STATUS.get(kind, kind),
                "attempts": event.attempts,
                "runtime": duration,
                "finished_at": now,
                "error": None if error is None else f"{type(error).__name__}: {error}"[:500],
                "worker": self.id,
            }
        )
        if self._pending >= self.recorder.flush_every:
            self._pending = 0
            self.recorder.nudge()

    def _row(self, now: float, event: Any) -> list[int]:
        key = (minute_of(now), self.connection, event.queue, event.job_class)
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = [0] * WIDTH
        return row

    # -- the flush thread -------------------------------------------------------------------
    def drain(self) -> Drain:
        """Rows turned into series, sampled backlogs and the finished jobs since the last drain."""
        with self._lock:
            rows, self._rows = self._rows, {}
            self._pending = 0
        counts: dict[tuple[int, str], int] = {}
        for (minute, connection, queue, job), row in rows.items():
            for column, value in zip(COLUMNS, row, strict=True):
                if value:
                    counts[(minute, encode(("job", connection, queue, job, column)))] = value
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
        records = list(self._recent)
        self._recent.clear()
        return counts, gauges, records

    def info(self) -> tuple[str, dict[str, Any]]:
        """The heartbeat: worker id and what it is doing."""
        return self.id, {
            "id": self.id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "connection": self.connection,
            "queues": self.queues,
            "started": self.started,
            "seen": self.clock(),
            "processed": self.processed,
            "current": self.current,
            "memory_mb": round(rss_mb(), 1),
        }

    # -- lifetime ----------------------------------------------------------------------------
    def start(self) -> None:
        """Record the events of the calling (worker) thread; start flushing in the background."""
        self._thread = threading.get_ident()
        self.recorder.start()

    def stop(self) -> None:
        """Flush what is left (with a last backlog sample) and remove this worker's heartbeat."""
        self._next_sample = 0.0
        self._thread = None
        self.recorder.stop()
        try:
            self.recorder.store.forget_worker(self.id)
        except Exception:  # the heartbeat expires by itself
            pass
