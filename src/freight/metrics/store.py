"""Where metrics live: the MetricsStore interface, an in-process store, and the per-driver registry.

A store keeps per-minute buckets of integer series (see :mod:`freight.metrics.series`)
plus all-time totals (minute ``TOTAL``), worker heartbeats and a short log of recent
jobs. Writers add to counters and set gauges in one batch; the dashboard only reads.
:func:`store_for` picks the store that lives in a queue connection's own backend.
"""

from __future__ import annotations

import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from freight.manager import import_object
from freight.metrics.series import TOTAL

__all__ = ["DeferredStore", "MemoryMetricsStore", "MetricsStore", "register_store", "store_for"]

#: (minute, series) -> value
Batch = Mapping[tuple[int, str], int]
#: how many finished jobs the recent-jobs log keeps
RECENT_KEEP = 200
#: seconds after its last heartbeat that a worker is no longer listed
WORKER_FORGET = 300.0


class MetricsStore(ABC):
    """Per-minute metric buckets, all-time totals, heartbeats and recent jobs in one backend."""

    #: minutes of per-minute buckets kept (older buckets expire or are pruned)
    retention: int = 1440
    #: names the backend and place (two connections on one place share one store)
    identity: str = ""

    @abstractmethod
    def write(self, counts: Batch, gauges: Batch) -> None:
        """Add ``counts`` to their minute buckets and to the totals; set ``gauges`` (also in totals)."""

    @abstractmethod
    def read(self, first: int, last: int) -> dict[int, dict[str, int]]:
        """The buckets of minutes ``first..last`` (inclusive) that hold anything."""

    @abstractmethod
    def totals(self) -> dict[str, int]:
        """All-time counters and the latest gauges."""

    @abstractmethod
    def beat(self, worker_id: str, info: Mapping[str, Any]) -> None:
        """Publish a worker's heartbeat (``info`` holds at least ``seen``, a Unix time)."""

    @abstractmethod
    def workers(self) -> list[dict[str, Any]]:
        """Heartbeats seen in the last :data:`WORKER_FORGET` seconds, newest first."""

    @abstractmethod
    def forget_worker(self, worker_id: str) -> None:
        """Remove a worker's heartbeat (it stopped)."""

    @abstractmethod
    def log_jobs(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append finished jobs to the recent-jobs log (bounded)."""

    @abstractmethod
    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The most recently finished jobs, newest first."""

    def close(self) -> None:
        """Release what the store holds (the connection's client stays open)."""


class MemoryMetricsStore(MetricsStore):
    """Metrics kept in this process (sync and memory connections, tests)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._buckets: dict[int, dict[str, int]] = {}
        self._workers: dict[str, dict[str, Any]] = {}
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_KEEP)
        self._lock = threading.Lock()

    def write(self, counts: Batch, gauges: Batch) -> None:
        """See :meth:`MetricsStore.write`."""
        with self._lock:
            for (minute, series), value in counts.items():
                for m in (minute, TOTAL):
                    bucket = self._buckets.setdefault(m, {})
                    bucket[series] = bucket.get(series, 0) + value
            for (minute, series), value in gauges.items():
                self._buckets.setdefault(minute, {})[series] = value
                self._buckets.setdefault(TOTAL, {})[series] = value
            floor = int(self.clock() // 60) - self.retention
            for m in [m for m in self._buckets if m != TOTAL and m < floor]:
                del self._buckets[m]

    def read(self, first: int, last: int) -> dict[int, dict[str, int]]:
        """See :meth:`MetricsStore.read`."""
        with self._lock:
            return {m: dict(b) for m, b in self._buckets.items() if m != TOTAL and first <= m <= last}

    def totals(self) -> dict[str, int]:
        """See :meth:`MetricsStore.totals`."""
        with self._lock:
            return dict(self._buckets.get(TOTAL, {}))

    def beat(self, worker_id: str, info: Mapping[str, Any]) -> None:
        """See :meth:`MetricsStore.beat`."""
        with self._lock:
            self._workers[worker_id] = dict(info)

    def workers(self) -> list[dict[str, Any]]:
        """See :meth:`MetricsStore.workers`."""
        floor = self.clock() - WORKER_FORGET
        with self._lock:
            alive = [w for w in self._workers.values() if float(w.get("seen", 0)) >= floor]
        return sorted(alive, key=lambda w: -float(w.get("seen", 0)))

    def forget_worker(self, worker_id: str) -> None:
        """See :meth:`MetricsStore.forget_worker`."""
        with self._lock:
            self._workers.pop(worker_id, None)

    def log_jobs(self, records: Sequence[Mapping[str, Any]]) -> None:
        """See :meth:`MetricsStore.log_jobs`."""
        with self._lock:
            self._recent.extend(dict(r) for r in records)

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """See :meth:`MetricsStore.recent`."""
        with self._lock:
            return list(reversed(self._recent))[:limit]


StoreFactory = Callable[[Any, Mapping[str, Any]], MetricsStore]
_FACTORIES: dict[str, str | StoreFactory] = {
    "redis": "freight.metrics.store_redis:create",
    "database": "freight.metrics.store_database:create",
}
_MEMORY: weakref.WeakKeyDictionary[Any, MemoryMetricsStore] = weakref.WeakKeyDictionary()


def register_store(driver: str, factory: str | StoreFactory) -> None:
    """Record metrics of connections of ``driver`` with ``factory(queue, options)``."""
    _FACTORIES[driver] = factory


def store_for(queue: Any, options: Mapping[str, Any] | None = None) -> MetricsStore | None:
    """The metrics store living in ``queue``'s backend, or None for a driver that has none.

    A driver without a persistent backend (``persistent = False``: sync, memory) gets an
    in-process store shared by every user of that connection object.
    """
    options = dict(options or {})
    factory = _FACTORIES.get(str(getattr(queue, "driver", "")))
    if factory is None:
        if getattr(queue, "persistent", True):
            return None
        return _MEMORY.setdefault(queue, MemoryMetricsStore())
    made = (import_object(factory) if isinstance(factory, str) else factory)(queue, options)
    if "retention" in options:
        made.retention = int(options["retention"])
    return made


class DeferredStore(MetricsStore):
    """A store found on first use (so a process that records nothing opens no connection);
    when ``find()`` returns None every call is a no-op."""

    def __init__(self, find: Callable[[], MetricsStore | None]) -> None:
        self._find = find
        self._store: MetricsStore | None = None
        self._found = False
        self._lock = threading.Lock()

    def target(self) -> MetricsStore | None:
        """The real store (found now if it was not yet)."""
        if not self._found:
            with self._lock:
                if not self._found:
                    self._store = self._find()
                    self._found = True
        return self._store

    def write(self, counts: Batch, gauges: Batch) -> None:
        """See :meth:`MetricsStore.write`."""
        store = self.target()
        if store is not None:
            store.write(counts, gauges)

    def read(self, first: int, last: int) -> dict[int, dict[str, int]]:
        """See :meth:`MetricsStore.read`."""
        store = self.target()
        return {} if store is None else store.read(first, last)

    def totals(self) -> dict[str, int]:
        """See :meth:`MetricsStore.totals`."""
        store = self.target()
        return {} if store is None else store.totals()

    def beat(self, worker_id: str, info: Mapping[str, Any]) -> None:
        """See :meth:`MetricsStore.beat`."""
        store = self.target()
        if store is not None:
            store.beat(worker_id, info)

    def workers(self) -> list[dict[str, Any]]:
        """See :meth:`MetricsStore.workers`."""
        store = self.target()
        return [] if store is None else store.workers()

    def forget_worker(self, worker_id: str) -> None:
        """See :meth:`MetricsStore.forget_worker`."""
        store = self.target()
        if store is not None:
            store.forget_worker(worker_id)

    def log_jobs(self, records: Sequence[Mapping[str, Any]]) -> None:
        """See :meth:`MetricsStore.log_jobs`."""
        store = self.target()
        if store is not None:
            store.log_jobs(records)

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """See :meth:`MetricsStore.recent`."""
        store = self.target()
        return [] if store is None else store.recent(limit)
