"""The current application: the one ``Job.dispatch()`` pushes through.

A small core module that both :class:`~freight.app.Application` (which sets it) and
:class:`~freight.queue.job.Job` (which reads it) import, so the queue layer never imports
the application layer. The current application is the most recently created one, the
one passed to ``make_current()``, or the one the worker loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from freight.errors import ConfigurationError

if TYPE_CHECKING:
    from freight.app import Application

__all__ = ["current_app", "get_current", "set_current"]

_current: Application | None = None


def get_current() -> Application | None:
    """The current Application, or None."""
    return _current


def set_current(app: Application | None) -> None:
    """Make ``app`` current (None: no application is current)."""
    global _current
    _current = app


def current_app() -> Application:
    """The current Application; :class:`ConfigurationError` explaining how to set one if none."""
    app = _current
    if app is None:
        raise ConfigurationError(
            "no freight Application is current: create one with freight.Application(config) "
            "(or Application.from_config('freight.toml')) before dispatching jobs, "
            "or call app.make_current()"
        )
    return app
