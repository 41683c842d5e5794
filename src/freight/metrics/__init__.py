"""Metrics recording: workers and cache stores record into the backend of a queue connection.

The recorder interface is :class:`~freight.metrics.recorder.Recorder` (buffer, then one
batched write per flush); where the numbers live is a
:class:`~freight.metrics.store.MetricsStore` (redis hashes with an expiry, SQL rows with a
pruned retention, or in-process for the sync and memory drivers). The dashboard only
reads the stores. The ``metrics`` section of the configuration (``metrics = false``
turns recording off)::

    [metrics]
    enabled = true        # on by default for redis and database connections
    interval = 1.0        # seconds between two flushes
    flush_every = 20000   # ... or sooner, after this many finished jobs
    retention = 1440      # minutes of per-minute buckets kept
    sample_every = 10.0   # seconds between two backlog samples
    connection = "redis"  # where cache stores record (default: the default queue connection)
    key_groups = {users = "user:*"}   # cache key groups (fnmatch patterns)
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from freight.metrics.cache import CacheMetrics
from freight.metrics.recorder import Recorder
from freight.metrics.store import DeferredStore, MemoryMetricsStore, MetricsStore, register_store, store_for
from freight.metrics.worker import WorkerMetrics

__all__ = [
    "CacheMetrics",
    "cache_metrics",
    "DEFAULTS",
    "MemoryMetricsStore",
    "MetricsStore",
    "Recorder",
    "WorkerMetrics",
    "metrics_options",
    "register_store",
    "store_for",
    "worker_metrics",
]

#: the ``metrics`` section's defaults
DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "interval": 1.0,
    "flush_every": 20000,
    "retention": 1440,
    "sample_every": 10.0,
    "connection": None,
    "key_groups": {},
    "table": None,
    "prefix": None,
}


def metrics_options(section: Mapping[str, Any] | bool | None) -> dict[str, Any]:
    """The ``metrics`` section with its defaults filled in (``False`` turns recording off)."""
    if isinstance(section, bool):
        return {**DEFAULTS, "enabled": section}
    return {**DEFAULTS, **dict(section or {})}


def worker_metrics(
    queue: Any, queues: list[str], options: Mapping[str, Any], current: Callable[[], Any] = lambda: None
) -> WorkerMetrics | None:
    """A started-on-demand recorder for a worker on connection ``queue``; None when off or when
    the connection's backend keeps no metrics."""
    if not options.get("enabled", True):
        return None
    store = store_for(queue, options)
    if store is None:
        return None
    recorder = Recorder(
        store,
        interval=float(options["interval"]),
        flush_every=int(options["flush_every"]),
        clock=queue.clock,
    )
    return WorkerMetrics(
        queue, queues, recorder, sample_every=float(options["sample_every"]), clock=queue.clock
    )


def cache_metrics(
    manager: Any, section: Mapping[str, Any] | bool | None, connection: Callable[[str | None], Any]
) -> CacheMetrics | None:
    """Start recording the stores of cache ``manager`` into the metrics store of the queue
    connection ``connection(metrics.connection)`` (found on the first flush with data)."""
    options = metrics_options(section)
    if not options.get("enabled", True):
        return None
    store = DeferredStore(lambda: store_for(connection(options.get("connection")), options))
    recorder = Recorder(store, interval=float(options["interval"]), flush_every=int(options["flush_every"]))
    made = CacheMetrics(manager, recorder, options.get("key_groups") or {})
    recorder.start()
    ref = weakref.ref(recorder)

    def restart_in_child() -> None:  # a forked child has no flush thread: start its own
        alive = ref()
        if alive is not None and alive.running:
            alive.start()

    os.register_at_fork(after_in_child=restart_in_child)
    return made
