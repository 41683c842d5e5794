"""The Recorder: metrics buffered in memory and written to a MetricsStore in one batch per flush.

Recording never fails the code that records: a flush that raises is dropped, counted
in :attr:`Recorder.dropped` (and written as ``meta|dropped`` by the next flush that
succeeds) and logged at most once a minute. A background thread flushes every
``interval`` seconds, sooner when ``flush_every`` items are pending.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from freight.metrics.series import encode, minute_of
from freight.metrics.store import MetricsStore

__all__ = ["Drain", "Recorder"]

log = logging.getLogger("freight.metrics")

#: what a source hands the recorder at a flush: (counts, gauges, finished-job records)
Drain = tuple[dict[tuple[int, str], int], dict[tuple[int, str], int], list[dict[str, Any]]]
#: seconds between two log lines about failed flushes
LOG_EVERY = 60.0


class Recorder:
    """Buffers counters, gauges and job records; flushes them to ``store`` in one batch."""

    def __init__(
        self,
        store: MetricsStore,
        *,
        interval: float = 1.0,
        flush_every: int = 20000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.interval = interval
        self.flush_every = max(1, flush_every)
        self.clock = clock
        #: items dropped because a flush failed
        self.dropped = 0
        self._unreported = 0
        self.flushes = 0
        self._counts: dict[tuple[int, str], int] = {}
        self._gauges: dict[tuple[int, str], int] = {}
        self._lock = threading.Lock()
        self._sources: list[Callable[[], Drain]] = []
        self._beat: Callable[[], tuple[str, Mapping[str, Any]]] | None = None
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._logged = 0.0

    # -- recording ------------------------------------------------------------------------
    def count(self, parts: tuple[str, ...], by: int = 1, at: float | None = None) -> None:
        """Add ``by`` to the series ``parts`` in the minute of ``at`` (default: now)."""
        key = (minute_of(self.clock() if at is None else at), encode(parts))
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + by

    def gauge(self, parts: tuple[str, ...], value: int, at: float | None = None) -> None:
        """Set the series ``parts`` to ``value`` in the minute of ``at`` (and as the latest value)."""
        key = (minute_of(self.clock() if at is None else at), encode(parts))
        with self._lock:
            self._gauges[key] = int(value)

    def add_source(self, drain: Callable[[], Drain]) -> None:
        """Call ``drain()`` at every flush and write what it returns."""
        self._sources.append(drain)

    def heartbeat(self, fn: Callable[[], tuple[str, Mapping[str, Any]]] | None) -> None:
        """Publish ``fn()`` (worker id, info) as a heartbeat at every flush."""
        self._beat = fn

    def nudge(self) -> None:
        """Ask the flush thread to flush now (a source has ``flush_every`` items pending)."""
        self._wake.set()

    # -- flushing -------------------------------------------------------------------------
    def flush(self) -> bool:
        """Write everything pending in one batch; False (and the batch dropped) if it failed."""
        with self._flush_lock:
            with self._lock:
                counts, self._counts = self._counts, {}
                gauges, self._gauges = self._gauges, {}
            records: list[dict[str, Any]] = []
            for drain in self._sources:
                try:
                    more_counts, more_gauges, more_records = drain()
                except Exception:  # a broken source must not stop the others
                    log.exception("metrics source %r raised", drain)
                    continue
                for key, value in more_counts.items():
                    counts[key] = counts.get(key, 0) + value
                gauges.update(more_gauges)
                records.extend(more_records)
            if self._unreported:
                key = (minute_of(self.clock()), encode(("meta", "dropped")))
                counts[key] = counts.get(key, 0) + self._unreported
            try:
                if counts or gauges:
                    self.store.write(counts, gauges)
                if records:
                    self.store.log_jobs(records)
                if self._beat is not None:
                    self.store.beat(*self._beat())
            except Exception as exc:
                lost = len(counts) + len(gauges) + len(records)
                self.dropped += lost
                self._unreported += lost
                now = time.monotonic()
                if now - self._logged >= LOG_EVERY:
                    self._logged = now
                    log.warning(
                        "metrics write failed; dropped %d items (%d in all): %s", lost, self.dropped, exc
                    )
                return False
            self._unreported = 0
            self.flushes += 1
            return True

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._thread is not None

    def start(self) -> None:
        """Start the background flush thread (again, in a forked child)."""
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        if self._pid != os.getpid():  # a forked child: fresh locks, nothing inherited pending
            self._lock, self._flush_lock = threading.Lock(), threading.Lock()
        self._pid = os.getpid()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="freight-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the flush thread after a last flush."""
        self._stopping.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        self.flush()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            self.flush()
