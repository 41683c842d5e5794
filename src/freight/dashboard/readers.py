"""Read-only views over the recorded metrics: what every dashboard page and JSON API shows.

:class:`Readers` finds the metrics store of every configured queue connection (stores
shared by several connections are read once), and turns per-minute buckets and totals
into plain dicts and lists, ready for JSON. Nothing here writes, except the failed-job
actions (:meth:`Readers.retry`, :meth:`Readers.forget`), which go through the queue manager.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from freight.app import Application
from freight.metrics import metrics_options, store_for
from freight.metrics.series import BOUNDS, CACHE_COUNTS, JOB_COUNTS, decode, minute_of, percentile
from freight.metrics.store import MetricsStore
from freight.queue.failed import retry_failed

__all__ = ["Readers"]

SLOTS = len(BOUNDS) + 1
#: seconds since its last heartbeat after which a worker is shown as stale
ALIVE_WITHIN = 15.0
QUANTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))


def _empty_job() -> dict[str, Any]:
    return {
        **{name: 0 for name in JOB_COUNTS},
        "runtime": [0] * SLOTS,
        "runtime_sum_us": 0,
        "wait": [0] * SLOTS,
        "wait_sum_us": 0,
    }


def _add_job(into: dict[str, Any], metric: str, value: int) -> None:
    if metric in JOB_COUNTS or metric.endswith("_sum_us"):
        into[metric] = into.get(metric, 0) + value
    elif metric.startswith(("runtime_b", "wait_b")):
        name, _, index = metric.partition("_b")
        if index.isdigit() and int(index) < SLOTS:
            into[name][int(index)] += value


def _percentiles(counts: list[int]) -> dict[str, float | None]:
    return {label: percentile(counts, q) for label, q in QUANTILES}


class Readers:
    """Everything the dashboard shows, read from the app's metrics stores and failed-job store."""

    def __init__(self, app: Application, clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.clock = clock
        self.options = metrics_options(app.config.get("metrics"))
        self._by_name: dict[str, tuple[Any, MetricsStore | None]] = {}

    # -- stores -----------------------------------------------------------------------------
    def stores(self) -> list[tuple[str, Any, MetricsStore]]:
        """(connection name, connection, store) for each distinct metrics store with data."""
        manager = self.app.queue()
        found: list[tuple[str, Any, MetricsStore]] = []
        seen: set[str] = set()
        for name in manager.names():
            if name not in self._by_name:
                try:
                    queue = manager.connection(name)
                    self._by_name[name] = (queue, store_for(queue, self.options))
                except Exception:  # a connection that cannot be built shows nothing (tried again)
                    continue
            queue, store = self._by_name[name]
            present = getattr(store, "present", None)
            if store is None or (callable(present) and not present()):
                continue
            key = getattr(store, "identity", None) or f"{type(store).__name__}:{id(store)}"
            if key not in seen:
                seen.add(key)
                found.append((name, queue, store))
        return found

    def _buckets(self, minutes: int) -> tuple[int, dict[int, dict[str, int]]]:
        last = minute_of(self.clock())
        first = last - minutes + 1
        merged: dict[int, dict[str, int]] = {}
        for _, _, store in self.stores():
            for minute, bucket in store.read(first, last).items():
                into = merged.setdefault(minute, {})
                for series, value in bucket.items():
                    into[series] = into.get(series, 0) + value
        return first, merged

    def totals(self) -> dict[str, int]:
        """All-time totals of every store, summed."""
        merged: dict[str, int] = {}
        for _, _, store in self.stores():
            for series, value in store.totals().items():
                merged[series] = merged.get(series, 0) + value
        return merged

    # -- queues -------------------------------------------------------------------------------
    def job_totals(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        """All-time counts and histograms per (connection, queue, job class)."""
        rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        for series, value in self.totals().items():
            parts = decode(series)
            if parts[0] == "job" and len(parts) == 5:
                _add_job(rows.setdefault((parts[1], parts[2], parts[3]), _empty_job()), parts[4], value)
        return rows

    def queues(self, minutes: int = 60) -> list[dict[str, Any]]:
        """Per queue: all-time and recent counts, throughput, percentiles and live backlog."""
        first, buckets = self._buckets(minutes)
        recent: dict[tuple[str, str], dict[str, Any]] = {}
        for bucket in buckets.values():
            for series, value in bucket.items():
                parts = decode(series)
                if parts[0] == "job" and len(parts) == 5:
                    _add_job(recent.setdefault((parts[1], parts[2]), _empty_job()), parts[4], value)
        total: dict[tuple[str, str], dict[str, Any]] = {}
        jobs: dict[tuple[str, str], list[str]] = {}
        for (connection, queue, job), row in self.job_totals().items():
            into = total.setdefault((connection, queue), _empty_job())
            for key in (*JOB_COUNTS, "runtime_sum_us", "wait_sum_us"):
                into[key] += row[key]
            for key in ("runtime", "wait"):
                into[key] = [a + b for a, b in zip(into[key], row[key], strict=True)]
            jobs.setdefault((connection, queue), []).append(job)
        names = set(total) | set(recent) | set(self._configured_queues())
        out = []
        for connection, queue in sorted(names):
            all_time = total.get((connection, queue), _empty_job())
            last = recent.get((connection, queue), _empty_job())
            out.append(
                {
                    "connection": connection,
                    "queue": queue,
                    "backlog": self._size(connection, queue),
                    "processed": all_time["processed"],
                    "failed": all_time["failed"],
                    "retried": all_time["retried"],
                    "last_hour": {k: last[k] for k in JOB_COUNTS},
                    "per_minute": round((last["processed"] + last["failed"]) / max(1, minutes), 2),
                    "runtime": _percentiles(last["runtime"] if sum(last["runtime"]) else all_time["runtime"]),
                    "wait": _percentiles(last["wait"] if sum(last["wait"]) else all_time["wait"]),
                    "jobs": sorted(jobs.get((connection, queue), [])),
                }
            )
        return out

    def _configured_queues(self) -> list[tuple[str, str]]:
        """The default queue of the default connection (shown before any job ran)."""
        manager = self.app.queue()
        name = manager.default_name()
        return [(name, str(manager.item_config(name).get("queue") or "default"))]

    def _size(self, connection: str, queue: str) -> int | None:
        try:
            return int(self.app.queue().connection(connection).size(queue))
        except Exception:
            return None

    def overview(self, minutes: int = 60) -> dict[str, Any]:
        """Throughput and failures per minute, wait and runtime percentiles, backlog per queue."""
        first, buckets = self._buckets(minutes)
        processed = [0] * minutes
        failed = [0] * minutes
        runtime = [0] * SLOTS
        wait = [0] * SLOTS
        for minute, bucket in buckets.items():
            slot = minute - first
            for series, value in bucket.items():
                parts = decode(series)
                if parts[0] != "job" or len(parts) != 5:
                    continue
                metric = parts[4]
                if metric == "processed":
                    processed[slot] += value
                elif metric == "failed":
                    failed[slot] += value
                elif metric.startswith("runtime_b"):
                    runtime[int(metric[9:])] += value
                elif metric.startswith("wait_b"):
                    wait[int(metric[6:])] += value
        queues = self.queues(minutes)
        return {
            "minutes": [(first + i) * 60 for i in range(minutes)],
            "processed_per_minute": processed,
            "failed_per_minute": failed,
            "runtime": _percentiles(runtime),
            "wait": _percentiles(wait),
            "totals": {name: sum(q[name] for q in queues) for name in JOB_COUNTS},
            "backlog": [
                {"connection": q["connection"], "queue": q["queue"], "size": q["backlog"]} for q in queues
            ],
            "workers": len([w for w in self.workers() if w["alive"]]),
            "failed_jobs": self.failed_count(),
            "dropped": self.totals().get("meta|dropped", 0),
        }

    # -- jobs ---------------------------------------------------------------------------------
    def recent_jobs(self, limit: int = 100) -> list[dict[str, Any]]:
        """The most recently finished jobs of every store, newest first."""
        rows: list[dict[str, Any]] = []
        for _, _, store in self.stores():
            rows.extend(store.recent(limit))
        rows.sort(key=lambda r: -float(r.get("finished_at") or 0))
        return rows[:limit]

    def failed_count(self) -> int | None:
        """Jobs in the failed-job store (None when it cannot be read)."""
        try:
            return int(self.app.queue().failed().count())
        except Exception:
            return None

    def failed_jobs(self, limit: int = 200) -> list[dict[str, Any]]:
        """Failed jobs, newest first: payload (decoded when it is JSON), exception and trace."""
        out = []
        for record in self.app.queue().failed().all()[:limit]:
            text = record.payload
            if text.startswith("sig:"):
                text = text.split(":", 2)[-1]
            try:
                payload: Any = json.loads(text)
            except ValueError:
                payload = record.payload
            out.append(
                {
                    "id": record.id,
                    "connection": record.connection,
                    "queue": record.queue,
                    "job": record.job_class,
                    "failed_at": record.failed_at,
                    "summary": record.summary,
                    "exception": record.exception,
                    "payload": payload,
                }
            )
        return out

    def retry(self, job_id: str) -> bool:
        """Push failed job ``job_id`` back on its queue and forget it; False if unknown."""
        manager = self.app.queue()
        record = manager.failed().find(job_id)
        if record is None:
            return False
        retry_failed(manager, record)
        manager.failed().forget(job_id)
        return True

    def forget(self, job_id: str) -> bool:
        """Delete failed job ``job_id``; False if unknown."""
        return bool(self.app.queue().failed().forget(job_id))

    def retry_all(self) -> int:
        """Retry every failed job; returns how many."""
        return sum(1 for record in self.app.queue().failed().all() if self.retry(record.id))

    # -- workers --------------------------------------------------------------------------------
    def workers(self) -> list[dict[str, Any]]:
        """Heartbeats of recent workers, with ``alive`` (seen in the last 15 s)."""
        now = self.clock()
        rows: list[dict[str, Any]] = []
        for _, _, store in self.stores():
            for info in store.workers():
                info["alive"] = now - float(info.get("seen", 0)) <= ALIVE_WITHIN
                rows.append(info)
        return rows

    # -- cache ----------------------------------------------------------------------------------
    def cache(self, minutes: int = 60) -> dict[str, Any]:
        """Per store: all-time counters, hit ratio, hit ratio per minute; top key groups."""
        first, buckets = self._buckets(minutes)
        stores: dict[str, dict[str, Any]] = {}
        groups: dict[tuple[str, str], dict[str, int]] = {}
        for series, value in self.totals().items():
            parts = decode(series)
            if parts[0] != "cache" or len(parts) != 4 or parts[3] not in CACHE_COUNTS:
                continue
            if parts[2] == "*":
                row = stores.setdefault(parts[1], {name: 0 for name in CACHE_COUNTS})
            else:
                row = groups.setdefault((parts[1], parts[2]), {name: 0 for name in CACHE_COUNTS})
            row[parts[3]] += value
        ratio: dict[str, list[float | None]] = {name: [None] * minutes for name in stores}
        for minute, bucket in buckets.items():
            per_store: dict[str, list[int]] = {}
            for series, value in bucket.items():
                parts = decode(series)
                if (
                    parts[0] == "cache"
                    and len(parts) == 4
                    and parts[2] == "*"
                    and parts[3] in ("hits", "misses")
                ):
                    pair = per_store.setdefault(parts[1], [0, 0])
                    pair[0 if parts[3] == "hits" else 1] += value
            for name, (hits, misses) in per_store.items():
                if name in ratio and hits + misses:
                    ratio[name][minute - first] = hits / (hits + misses)
        for row in [*stores.values(), *groups.values()]:
            reads = row["hits"] + row["misses"]
            row["hit_ratio"] = round(row["hits"] / reads, 4) if reads else None
        top = sorted(groups.items(), key=lambda item: -(item[1]["hits"] + item[1]["misses"]))
        return {
            "minutes": [(first + i) * 60 for i in range(minutes)],
            "stores": [
                {"store": name, **row, "ratio_per_minute": ratio[name]}
                for name, row in sorted(stores.items())
            ],
            "key_groups": [{"store": s, "group": g, **row} for (s, g), row in top[:20]],
        }

    # -- optional panels ------------------------------------------------------------------------
    def schedule(self) -> list[dict[str, Any]] | None:
        """The schedule's events with next and last runs; None when the app has no schedule."""
        make = getattr(self.app, "schedule", None)
        if not callable(make):
            return None
        status = getattr(make(), "status", None)
        if not callable(status):
            return None
        rows = status()
        return [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()} for row in rows
        ]

    def batches(self, limit: int = 50) -> list[dict[str, Any]] | None:
        """Recent batches of every connection with their progress; None when no connection
        has batches (the feature is detected, not assumed)."""
        manager = self.app.queue()
        rows: list[dict[str, Any]] | None = None
        for name in manager.names():
            try:
                repository = getattr(manager.connection(name), "batches", None)
                if not callable(repository):
                    continue
                states = repository().recent(limit)
            except Exception:  # a connection that cannot be reached shows no batches
                continue
            rows = rows if rows is not None else []
            rows.extend({"connection": name, **_batch_dict(state)} for state in states)
        if rows is not None:
            rows.sort(key=lambda r: -float(r.get("created_at") or 0))
        return rows

    def cancel_batch(self, connection: str, batch_id: str) -> bool:
        """Cancel batch ``batch_id`` of ``connection``; False if unknown."""
        find = getattr(self.app.queue().connection(connection), "find_batch", None)
        batch = find(batch_id) if callable(find) else None
        if batch is None:
            return False
        batch.cancel()
        return True


def _batch_dict(state: Any) -> dict[str, Any]:
    total, pending, failed = int(state.total), int(state.pending), int(state.failed)
    return {
        "id": state.id,
        "name": state.name,
        "total": total,
        "pending": pending,
        "processed": total - pending - failed,
        "failed": failed,
        "progress": 100 if total == 0 else (total - pending) * 100 // total,
        "created_at": state.created_at,
        "finished_at": state.finished_at,
        "cancelled_at": state.cancelled_at,
    }
