"""``/metrics``: the recorded totals in the Prometheus text format, through prometheus_client.

Counters and histograms are the all-time totals kept in the metrics stores, so every
dashboard process serves the same numbers and a restart loses nothing. Series:

* ``freight_jobs_processed_total``, ``freight_jobs_failed_total``, ``freight_jobs_retried_total``
  (labels ``connection``, ``queue``, ``job``);
* ``freight_job_runtime_seconds`` and ``freight_job_wait_seconds`` histograms (same labels);
* ``freight_queue_backlog`` (``connection``, ``queue``; read live), ``freight_workers_alive``
  (``connection``), ``freight_failed_jobs``;
* ``freight_cache_<counter>_total`` for hits, misses, writes, deletes, lock_waits,
  tag_flushes, flight_waits and refreshes (labels ``store``, ``group``; ``group="*"`` is the whole store);
* ``freight_metrics_dropped_total``: metric items lost to failed writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from freight.dashboard.readers import Readers
from freight.errors import MissingDependencyError
from freight.metrics.series import BOUNDS, CACHE_COUNTS, JOB_COUNTS, decode

__all__ = ["CONTENT_TYPE", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Collector:
    def __init__(self, readers: Readers) -> None:
        self.readers = readers

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        labels = ["connection", "queue", "job"]
        counters = {
            name: CounterMetricFamily(f"freight_jobs_{name}", f"jobs {name}", labels=labels)
            for name in JOB_COUNTS
        }
        runtime = HistogramMetricFamily(
            "freight_job_runtime_seconds", "runtime of each attempt", labels=labels
        )
        wait = HistogramMetricFamily(
            "freight_job_wait_seconds", "push to start, first attempts", labels=labels
        )
        for (connection, queue, job), row in sorted(self.readers.job_totals().items()):
            values = [connection, queue, job]
            for name in JOB_COUNTS:
                counters[name].add_metric(values, row[name])
            for family, key in ((runtime, "runtime"), (wait, "wait")):
                cumulative, buckets = 0, []
                for bound, count in zip([*map(str, BOUNDS), "+Inf"], row[key], strict=True):
                    cumulative += count
                    buckets.append((bound, cumulative))
                family.add_metric(values, buckets, row[f"{key}_sum_us"] / 1e6)
        yield from counters.values()
        yield runtime
        yield wait
        backlog = GaugeMetricFamily(
            "freight_queue_backlog", "jobs waiting (read live)", labels=["connection", "queue"]
        )
        for row in self.readers.queues():
            if row["backlog"] is not None:
                backlog.add_metric([row["connection"], row["queue"]], row["backlog"])
        yield backlog
        alive = GaugeMetricFamily(
            "freight_workers_alive", "workers with a recent heartbeat", labels=["connection"]
        )
        per_connection: dict[str, int] = {}
        for worker in self.readers.workers():
            if worker["alive"]:
                name = str(worker.get("connection"))
                per_connection[name] = per_connection.get(name, 0) + 1
        for name, count in sorted(per_connection.items()):
            alive.add_metric([name], count)
        yield alive
        failed = self.readers.failed_count()
        if failed is not None:
            yield GaugeMetricFamily("freight_failed_jobs", "jobs in the failed-job store", value=failed)
        yield from self._cache()

    def _cache(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        families = {
            name: CounterMetricFamily(f"freight_cache_{name}", f"cache {name}", labels=["store", "group"])
            for name in CACHE_COUNTS
        }
        dropped = 0
        for series, value in sorted(self.readers.totals().items()):
            parts = decode(series)
            if parts[0] == "cache" and len(parts) == 4 and parts[3] in families:
                families[parts[3]].add_metric([parts[1], parts[2]], value)
            elif parts == ["meta", "dropped"]:
                dropped = value
        yield from families.values()
        yield CounterMetricFamily(
            "freight_metrics_dropped", "metric items lost to failed writes", value=dropped
        )


def render(readers: Readers) -> bytes:
    """The exposition text of every freight series."""
    try:
        from prometheus_client import CollectorRegistry, generate_latest
    except ImportError as exc:
        raise MissingDependencyError("prometheus_client", "dashboard", "/metrics") from exc
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(readers))
    return bytes(generate_latest(registry))
