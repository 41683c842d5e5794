"""Metrics recording against every queue backend: counts, histograms, backlog, heartbeats, failures.

A worker runs a known mix of jobs; the connection's metrics store must then hold exactly
those counts, in the current minute's bucket and in the all-time totals.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import pytest

from freight import Application, QueueManager, Worker
from freight.metrics import MemoryMetricsStore, Recorder, metrics_options, store_for
from freight.metrics.series import BOUNDS, decode, encode, histogram_slot, minute_of, percentile
from freight.metrics.store import MetricsStore

sys.path.insert(0, os.path.dirname(__file__))
import metrics_jobs  # noqa: E402

PATH = "metrics_jobs"


def queue_section(conn: dict[str, Any], tmp_path: Any) -> dict[str, Any]:
    """A queue section whose default connection is ``conn`` (failed jobs in SQLite)."""
    failed = {"driver": "database", "url": f"sqlite:///{tmp_path}/failed.sqlite3", "table": "failed"}
    return {"default": "main", "connections": {"main": conn}, "failed": failed}


def by_metric(values: dict[str, int], queue: str | None = None) -> dict[tuple[str, str, str], int]:
    """``{(queue, job, metric): value}`` of the job series of connection ``main`` (and ``queue``)."""
    found = {}
    for series, value in values.items():
        parts = decode(series)
        if parts[0] == "job" and parts[1] == "main" and queue in (None, parts[2]):
            found[(parts[2], parts[3].rsplit(":", 1)[-1], parts[4])] = value
    return found


@pytest.fixture
def run_mix(
    queue_kind: str, queue_config: Callable[..., dict[str, Any]], tmp_path: Any
) -> Callable[..., tuple[QueueManager, Worker]]:
    def run(
        ok: int = 20, broken: int = 3, flaky: int = 2, metrics: bool | None = None
    ) -> tuple[QueueManager, Worker]:
        manager = QueueManager(queue_section(queue_config(queue_kind, name="main"), tmp_path))
        queue = manager.connection()
        jobs = [metrics_jobs.Quick() for _ in range(ok)]
        jobs += [metrics_jobs.Broken(text="<b>x</b>") for _ in range(broken)]
        jobs += [metrics_jobs.Flaky() for _ in range(flaky)]
        queue.bulk(jobs)
        worker = Worker(manager, stop_when_empty=True, sleep=0, metrics=metrics)
        assert worker.run() == 0
        return manager, worker

    return run


def test_worker_records_exact_counts(run_mix: Callable[..., tuple[QueueManager, Worker]]) -> None:
    manager, worker = run_mix()
    queue = manager.connection()
    store = store_for(queue)
    assert store is not None
    q = queue.default_queue
    totals = by_metric(store.totals(), q)
    assert totals[(q, "Quick", "processed")] == 20
    assert totals[(q, "Broken", "failed")] == 3
    assert totals[(q, "Flaky", "retried")] == 2
    assert totals[(q, "Flaky", "processed")] == 2
    runtime = sum(v for (_, _, m), v in totals.items() if m.startswith("runtime_b"))
    assert runtime == 20 + 3 + 2 * 2  # one observation per attempt
    waits = sum(v for (_, _, m), v in totals.items() if m.startswith("wait_b"))
    assert waits == 25  # first attempts only
    now = minute_of(queue.clock())
    buckets = store.read(now - 2, now)
    summed: dict[tuple[str, str, str], int] = {}
    for bucket in buckets.values():
        for key, value in by_metric(bucket, q).items():
            summed[key] = summed.get(key, 0) + value
    assert summed == totals
    recent = [r for r in store.recent(200) if r["queue"] == q]
    assert len(recent) == 27
    assert {r["status"] for r in recent} == {"done", "failed", "retrying"}
    assert [w for w in store.workers() if q in w["queues"]] == []  # a stopped worker leaves
    assert worker.metrics is not None and worker.metrics.recorder.dropped == 0
    backlog = [v for s, v in store.totals().items() if s.startswith("backlog|") and s.endswith(q)]
    assert backlog == [0]


def test_metrics_off_records_nothing(run_mix: Callable[..., tuple[QueueManager, Worker]]) -> None:
    manager, worker = run_mix(ok=3, broken=0, flaky=0, metrics=False)
    assert worker.metrics is None
    queue = manager.connection()
    store = store_for(queue)
    assert store is not None
    assert [k for k in by_metric(store.totals()) if k[0] == queue.default_queue] == []


class BrokenStore(MemoryMetricsStore):
    """A store whose writes fail until ``healthy`` is set."""

    healthy = False

    def write(self, counts: Any, gauges: Any) -> None:
        if not self.healthy:
            raise ConnectionError("metrics backend down")
        super().write(counts, gauges)

    def log_jobs(self, records: Any) -> None:
        if not self.healthy:
            raise ConnectionError("metrics backend down")
        super().log_jobs(records)


def test_failed_metrics_write_is_dropped_and_counted(
    run_mix: Callable[..., tuple[QueueManager, Worker]], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = BrokenStore()
    monkeypatch.setattr("freight.metrics.store_for", lambda queue, options=None: broken)
    manager, worker = run_mix(ok=5, broken=0, flaky=0)
    assert manager.connection().size() == 0  # every job ran
    assert worker.metrics is not None
    recorder = worker.metrics.recorder
    assert recorder.dropped > 0
    broken.healthy = True
    recorder.count(("meta", "probe"))
    assert recorder.flush()
    assert broken.totals()[encode(("meta", "dropped"))] == recorder.dropped


def test_metrics_section_turns_recording_off(tmp_path: Any) -> None:
    conn = {"driver": "database", "url": f"sqlite:///{tmp_path}/q.sqlite3", "table": "jobs"}
    app = Application({"queue": queue_section(conn, tmp_path), "metrics": {"enabled": False}})
    assert Worker(app).metrics is None
    app = Application({"queue": queue_section(conn, tmp_path), "metrics": {"interval": 0.5}})
    worker = Worker(app)
    assert worker.metrics is not None and worker.metrics.recorder.interval == 0.5
    app.close()


@pytest.mark.parametrize("queue_kind", ["sqlite"])
def test_sql_buckets_are_pruned(
    queue_kind: str, queue_config: Callable[..., dict[str, Any]], make_queue: Callable[..., Any], clock: Any
) -> None:
    queue = make_queue(queue_config(queue_kind))
    store = store_for(queue, {"retention": 5})
    assert store is not None
    now = minute_of(clock())
    store.write({(now - 10, "job|a|b|c|processed"): 1, (now, "job|a|b|c|processed"): 2}, {})
    assert sorted(store.read(now - 20, now)) == [now]  # the old bucket went at the first prune
    assert store.totals() == {"job|a|b|c|processed": 3}


def test_recorder_flush_is_batched() -> None:
    store = MemoryMetricsStore()
    writes: list[int] = []
    original = store.write
    store.write = lambda c, g: (writes.append(len(c)), original(c, g))  # type: ignore[method-assign]
    recorder = Recorder(store, clock=lambda: 600.0)
    for _ in range(1000):
        recorder.count(("cache", "s", "*", "hits"))
    assert writes == []  # nothing is written per call
    assert recorder.flush() and writes == [1]
    assert store.totals() == {"cache|s|*|hits": 1000}


def test_series_helpers() -> None:
    assert decode(encode(["job", "a|b", "100%", "x"])) == ["job", "a|b", "100%", "x"]
    assert histogram_slot(0.0005) == 0 and histogram_slot(1e9) == len(BOUNDS)
    counts = [0] * (len(BOUNDS) + 1)
    counts[histogram_slot(0.02)] = 99
    counts[histogram_slot(3.0)] = 1
    p50 = percentile(counts, 0.5)
    assert p50 is not None and 0.01 < p50 <= 0.025
    p99 = percentile(counts, 0.999)
    assert p99 is not None and 2.5 < p99 <= 5.0
    assert percentile([0] * len(counts), 0.5) is None
    assert metrics_options(False)["enabled"] is False
    assert metrics_options({"interval": 5})["interval"] == 5


def test_store_interface_is_complete() -> None:
    assert not getattr(MetricsStore, "__abstractmethods__", set()) - {
        "write",
        "read",
        "totals",
        "beat",
        "workers",
        "forget_worker",
        "log_jobs",
        "recent",
    }


def test_cache_stores_record_per_store_and_key_group(tmp_path: Any) -> None:
    conn = {"driver": "database", "url": f"sqlite:///{tmp_path}/q.sqlite3", "table": "jobs"}
    app = Application(
        {
            "cache": {"default": "array", "stores": {"array": {"driver": "array"}}},
            "queue": queue_section(conn, tmp_path),
            "metrics": {"key_groups": {"users": "user:*"}, "table": "m_cache"},
        }
    )
    cache = app.cache()
    cache.put("user:1", "a")
    cache.put("post:1", "b")
    for key in ("user:1", "user:2", "post:1"):
        cache.get(key)
    cache.forget("post:1")
    cache.tags("people").put("user:3", "c")
    cache.tags("people").flush()
    assert app.cache_metrics is not None
    assert app.cache_metrics.recorder.flush()
    store = store_for(app.queue().connection(), {"table": "m_cache"})
    assert store is not None
    totals = {s: v for s, v in store.totals().items() if s.startswith("cache|")}
    assert totals == {
        "cache|array|*|tag_flushes": 1,
        "cache|array|*|writes": 3,
        "cache|array|*|hits": 2,
        "cache|array|*|misses": 1,
        "cache|array|*|deletes": 1,
        "cache|array|users|writes": 2,
        "cache|array|users|hits": 1,
        "cache|array|users|misses": 1,
    }
    assert app.cache_metrics.recorder.flush()  # no change: nothing more is added
    assert {s: v for s, v in store.totals().items() if s.startswith("cache|")} == totals
    app.close()


def test_a_recording_bug_never_fails_a_job(
    run_mix: Callable[..., tuple[QueueManager, Worker]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> None:
        raise TypeError("a bug in recording")

    monkeypatch.setattr("freight.metrics.worker.WorkerMetrics._observe", broken)
    manager, worker = run_mix(ok=4, broken=0, flaky=0)
    assert worker.processed == 4 and manager.connection().size() == 0
    assert manager.failed().count() == 0
    assert worker.metrics is not None and worker.metrics.recorder.dropped == 4
