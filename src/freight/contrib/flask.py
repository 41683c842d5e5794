"""Flask integration: ``Freight(app)`` (or ``Freight()`` then ``init_app(app)``).

* configuration from ``app.config["FREIGHT"]`` (a freight config dict or a TOML path;
  absent, freight's discovery and defaults apply);
* the Application is made current before each request, so ``Job.dispatch()`` in a view
  pushes through this app's queue (also with several apps in one process);
* ``flask freight <command>`` runs any ``python -m freight`` command on it
  (``flask freight work --stop-when-empty``, ``flask freight failed``, ...); the worker
  runs each job inside a fresh application context, so ``current_app``, ``g`` and the
  app's extensions work in ``handle()`` (an async job sees the context of the job it
  was started for).

Install with ``pip install "freight[flask]"``; docs/flask.md has an example.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from freight.app import Application
from freight.cache.manager import CacheManager
from freight.cli import main
from freight.queue.events import JobEvent
from freight.queue.manager import QueueManager

__all__ = ["Freight", "current_application", "freight_command"]

APP = "freight.contrib.flask:current_application"


class Freight:
    """The Flask extension holding one freight Application per Flask app."""

    def __init__(self, app: Flask | None = None) -> None:
        self.application: Application | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Build the Application from ``app.config["FREIGHT"]`` and register the CLI command."""
        application = Application(app.config.get("FREIGHT"))
        self.application = application
        app.extensions["freight"] = self

        def make_current() -> None:
            application.make_current()

        app.before_request(make_current)
        app.cli.add_command(freight_command)

    @property
    def cache(self) -> CacheManager:
        """The Application's cache manager."""
        return self._application().cache()

    @property
    def queue(self) -> QueueManager:
        """The Application's queue manager."""
        return self._application().queue()

    def _application(self) -> Application:
        if self.application is None:
            raise RuntimeError("Freight() was not initialised: call freight.init_app(app)")
        return self.application


def current_application() -> Application:
    """The freight Application of the Flask app in the current app context (``--app`` target)."""
    extension: Freight = current_app.extensions["freight"]
    return extension._application().make_current()


class _JobContexts:
    """Pushes a fresh app context when each job starts; pops it when the next starts or at exit."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.pushed: list[Any] = []

    def processing(self, event: JobEvent) -> None:
        self.close()
        context = self.app.app_context()
        context.push()
        self.pushed.append(context)

    def close(self) -> None:
        while self.pushed:
            self.pushed.pop().pop()


@click.command(
    "freight",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@with_appcontext
def freight_command(args: tuple[str, ...]) -> None:
    """Run a freight command (work, failed, retry, cache:clear, ...) on this app's configuration."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    contexts = _JobContexts(app)
    current_application().queue().on("processing", contexts.processing)
    try:
        code = main(["--app", APP, *args])
    finally:
        contexts.close()
    sys.exit(code)
