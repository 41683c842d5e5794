"""The freight Application of a Django project: configured from ``settings.FREIGHT``.

``freight_app()`` builds it once (``settings.FREIGHT`` is a freight config dict or the
path of a TOML file; absent, freight's discovery and defaults apply), makes it current
so ``Job.dispatch()`` works in views, and closes Django's database connections around
every job the worker runs, as django-dramatiq's ``DbConnectionsMiddleware`` does, so a
long-running worker never reuses a connection the server has dropped.
"""

from __future__ import annotations

import threading
from typing import Any

from freight.app import Application
from freight.queue.events import JobEvent

__all__ = ["close_connections", "freight_app", "reset"]

_app: Application | None = None
_lock = threading.Lock()


def close_connections(event: JobEvent | None = None) -> None:
    """Close database connections that are unusable or past ``CONN_MAX_AGE`` (Django's
    ``close_old_connections``)."""
    from django.db import close_old_connections

    close_old_connections()


def freight_app() -> Application:
    """The project's Application (``--app freight.contrib.django.app:freight_app``)."""
    global _app
    with _lock:
        if _app is None:
            import django
            from django.apps import apps
            from django.conf import settings

            if not apps.ready:  # `python -m freight work` with DJANGO_SETTINGS_MODULE set
                django.setup()
            config: Any = getattr(settings, "FREIGHT", None)
            app = Application(config)
            queue = app.queue()
            for event in ("processing", "processed", "retrying", "failed"):
                queue.on(event, close_connections)
            _app = app
        return _app.make_current()


def reset() -> None:
    """Forget the Application (tests that change ``settings.FREIGHT``)."""
    global _app
    with _lock:
        if _app is not None:
            _app.close()
        _app = None
