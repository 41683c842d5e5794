"""Record some traffic, then read it the way the dashboard does (no browser needed).

    python examples/dashboard/run.py            # SQLite under ./storage; prints what it read
    python -m freight --app app:app dashboard   # (from examples/dashboard) the page itself

It pushes 40 thumbnails and 20 imports (2 of them broken), runs a worker until the
queues are empty, reads and writes the cache, then prints the JSON of ``/api/queues``
and ``/api/cache`` and the ``freight_jobs_*`` lines of ``/metrics``, exactly as a
browser, a script or Prometheus would get them from ``python -m freight dashboard``.
"""

from __future__ import annotations

import io
import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from app import app  # noqa: E402
from jobs import ImportRow, MakeThumbnail  # noqa: E402

from freight import Worker  # noqa: E402
from freight.dashboard import wsgi_app  # noqa: E402


def get(path: str) -> bytes:
    """GET ``path`` from the dashboard's WSGI callable, in-process."""
    environ: dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.input": io.BytesIO()}
    return b"".join(wsgi_app(app)(environ, lambda status, headers: None))


queue = app.queue()
queue.bulk([MakeThumbnail(path=f"img{i}.png") for i in range(40)])
queue.bulk([ImportRow(row=i, date="2026-02-30" if i % 10 == 0 else "2026-01-01") for i in range(1, 21)])
Worker(app, queues="images,default", stop_when_empty=True, sleep=0).run()

cache = app.cache()
for user in range(30):
    cache.remember(f"user:{user % 10}", 60, lambda: {"name": "ada"})
assert app.cache_metrics is not None
app.cache_metrics.recorder.flush()  # a long-running process flushes once a second by itself

for row in json.loads(get("/api/queues")):
    print(
        f"queue {row['queue']}: processed {row['processed']}, failed {row['failed']}, "
        f"backlog {row['backlog']}, runtime p95 {row['runtime']['p95']:.4f} s"
    )
for store in json.loads(get("/api/cache"))["stores"]:
    print(
        f"cache {store['store']}: {store['hits']} hits, {store['misses']} misses, ratio {store['hit_ratio']}"
    )
for line in get("/metrics").decode().splitlines():
    if line.startswith(("freight_jobs_processed_total", "freight_jobs_failed_total")):
        print(line)
app.close()
