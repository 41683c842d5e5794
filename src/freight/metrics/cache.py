"""What cache stores record: hits, misses, writes, deletes, lock waits and tag flushes per store.

Nothing is added to the cache's hot path: every repository already counts its hits,
misses, writes and forgets (``Repository.stats()``), and the recorder's flush thread
turns the change since the last flush into per-minute series. Counters a store adds to
``stats()`` later (``lock_waits``, ``tag_flushes``) are picked up the same way.

Key groups (``metrics.key_groups = {name = "pattern"}``, fnmatch patterns such as
``"user:*"``) need the key of every call, so they register a cache event listener: each
hit, miss, write or delete is matched against the patterns and counted in memory
(configure groups only where the per-call cost of an event is acceptable).
"""

from __future__ import annotations

import fnmatch
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from freight.metrics.recorder import Drain, Recorder
from freight.metrics.series import CACHE_COUNTS, encode, minute_of

__all__ = ["CacheMetrics", "EVENT_COUNTS"]

#: the name a repository's ``stats()`` uses for each cache counter
STAT_NAMES = {"hits": "hits", "misses": "misses", "writes": "writes", "forgets": "deletes"}
STAT_NAMES.update({name: name for name in CACHE_COUNTS})
#: cache event class name -> the counter it adds to (key groups)
EVENT_COUNTS = {
    "CacheHit": "hits",
    "CacheMissed": "misses",
    "KeyWritten": "writes",
    "KeyIncremented": "writes",
    "KeyForgotten": "deletes",
}
#: the key group name of the whole store
WHOLE_STORE = "*"


class CacheMetrics:
    """Turns the counters of a CacheManager's stores into per-minute series."""

    def __init__(
        self,
        manager: Any,
        recorder: Recorder,
        key_groups: Mapping[str, str] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.manager = manager
        self.recorder = recorder
        self.clock = clock or recorder.clock
        self._last: dict[int, dict[str, int]] = {}
        self._groups = [(name, re.compile(fnmatch.translate(p))) for name, p in (key_groups or {}).items()]
        self._grouped: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()
        recorder.add_source(self.drain)
        if self._groups:
            manager.listen(self.on_event)

    def on_event(self, event: Any) -> None:
        """Count a cache event in the key groups its key matches (never raises into the cache call)."""
        metric = EVENT_COUNTS.get(type(event).__name__)
        key = getattr(event, "key", None)
        if metric is None or not isinstance(key, str):
            return
        for name, pattern in self._groups:
            if pattern.match(key):
                slot = (str(event.store), name, metric)
                with self._lock:
                    self._grouped[slot] = self._grouped.get(slot, 0) + 1

    def drain(self) -> Drain:
        """The change of every store's counters since the last drain, plus key-group counts."""
        minute = minute_of(self.clock())
        counts: dict[tuple[int, str], int] = {}
        for name, repository in self.manager.resolved().items():
            stats = getattr(repository, "stats", None)
            if not callable(stats):
                continue
            current = stats()
            last = self._last.get(id(repository), {})
            for stat, value in current.items():
                metric = STAT_NAMES.get(stat)
                if metric is None:
                    continue
                before = last.get(stat, 0)
                delta = value - before if value >= before else value  # counters were reset
                if delta:
                    counts[(minute, encode(("cache", name, WHOLE_STORE, metric)))] = delta
            self._last[id(repository)] = dict(current)
        with self._lock:
            grouped, self._grouped = self._grouped, {}
        for (store, group, metric), value in grouped.items():
            key = (minute, encode(("cache", store, group, metric)))
            counts[key] = counts.get(key, 0) + value
        return counts, {}, []
