"""The freight dashboard: queues, jobs, workers, cache stores and schedules in a browser.

``python -m freight dashboard`` serves it; :func:`wsgi_app` mounts the same page in any
WSGI application. It only reads what workers and cache stores recorded
(:mod:`freight.metrics`); docs/dashboard.md lists every panel and series.
"""

from __future__ import annotations

from freight.dashboard.wsgi import Dashboard, wsgi_app

__all__ = ["Dashboard", "wsgi_app"]
