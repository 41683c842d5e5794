"""Issue 18's "done when": a worker ran 1,000 jobs (50 failing) on redis and on PostgreSQL; the
JSON API and ``/metrics`` give exactly those counts, and restarting the worker and the
dashboard loses no history (the numbers live in the backend, not in either process).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from dashkit import run_worker, wsgi_get
from prometheus_client.parser import text_string_to_metric_families

from freight import Application
from freight.dashboard import wsgi_app


def queue_row(app: Application, queue: str) -> dict[str, Any]:
    status, _, body = wsgi_get(wsgi_app(app), "/api/queues")
    assert status == "200 OK"
    return next(r for r in json.loads(body) if r["queue"] == queue)


def scraped(app: Application, queue: str) -> dict[str, float]:
    status, headers, body = wsgi_get(wsgi_app(app), "/metrics")
    assert status == "200 OK" and headers["Content-Type"].startswith("text/plain")
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.labels.get("queue") == queue and not sample.name.endswith(("_bucket", "_created")):
                found[sample.name] = found.get(sample.name, 0) + sample.value
    return found


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["redis", "postgres"])
def test_thousand_jobs_exact_counts_survive_restarts(kind: str, dash_app: Any, tmp_path: Any) -> None:
    import dash_jobs

    app = dash_app(kind)
    queue = app.queue().connection()
    name = queue.default_queue
    for _ in range(2):  # two worker runs (a restart in between), 500 jobs each
        queue.bulk([dash_jobs.Quick() for _ in range(475)] + [dash_jobs.Broken() for _ in range(25)])
        done = run_worker(tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
    fresh = Application(app.config)  # a restarted dashboard: a new process state
    row = queue_row(fresh, name)
    assert (row["processed"], row["failed"], row["retried"], row["backlog"]) == (950, 50, 0, 0)
    assert row["last_hour"] == {"processed": 950, "failed": 50, "retried": 0}
    assert row["runtime"]["p50"] is not None and row["wait"]["p99"] is not None
    metrics = scraped(fresh, name)
    assert metrics["freight_jobs_processed_total"] == 950
    assert metrics["freight_jobs_failed_total"] == 50
    assert metrics["freight_jobs_retried_total"] == 0
    assert metrics["freight_job_runtime_seconds_count"] == 1000
    assert metrics["freight_job_wait_seconds_count"] == 1000
    assert metrics["freight_queue_backlog"] == 0
    status, _, body = wsgi_get(wsgi_app(fresh), "/api/jobs/failed")
    assert len([j for j in json.loads(body) if j["queue"] == name]) == 50
    status, _, body = wsgi_get(wsgi_app(fresh), "/api/jobs/recent")
    assert {j["status"] for j in json.loads(body) if j["queue"] == name} <= {"done", "failed"}
    fresh.close()
