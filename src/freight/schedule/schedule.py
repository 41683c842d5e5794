"""The Schedule: the list of an application's scheduled events, and their status.

``app.schedule()`` returns the application's one Schedule. Events are added with
:meth:`Schedule.job`, :meth:`Schedule.call`, :meth:`Schedule.command` and
:meth:`Schedule.warm`, usually in the module that builds the application, so every
``schedule:*`` command started with ``--app module:app`` sees them.

Configuration (optional), ``[schedule]``: ``store`` (the cache store for claims, locks
and run records; default: the default store) and ``timezone`` (of events that name none;
default ``"UTC"``).
"""

from __future__ import annotations

import datetime as dt
import shlex
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from freight.errors import ConfigurationError
from freight.schedule.cron import zone
from freight.schedule.events import CallEvent, CommandEvent, Event, JobEvent, WarmEvent
from freight.schedule.state import ScheduleState

if TYPE_CHECKING:
    from freight.app import Application
    from freight.cache.repository import Repository
    from freight.queue.job import Job

__all__ = ["Schedule"]

E = TypeVar("E", bound=Event)


class Schedule:
    """An application's scheduled events."""

    def __init__(self, app: Application) -> None:
        self.app = app
        section = app.config.get("schedule") or {}
        self.store: str | None = section.get("store")
        self.default_tz: dt.tzinfo = zone(section.get("timezone") or "UTC")
        self.events: list[Event] = []
        #: ``--app``/``--config`` options given to a command event's ``python -m freight``
        self.cli_options: list[str] = []

    # -- adding events ----------------------------------------------------------------------
    def job(
        self, job: Job, queue: str | None = None, connection: str | None = None, *, catch_up: bool = False
    ) -> JobEvent:
        """Dispatch ``job`` to its queue (or ``queue`` on ``connection``) when due."""
        return self._add(JobEvent(self.app, job, queue, connection, self.default_tz), catch_up)

    def call(self, fn: Callable[..., Any], *args: Any, catch_up: bool = False) -> CallEvent:
        """Call ``fn(*args)`` in the scheduler process, on its own thread, when due."""
        return self._add(CallEvent(fn, args, self.default_tz), catch_up)

    def command(self, command: str | Sequence[str], *, catch_up: bool = False) -> CommandEvent:
        """Run a freight command (``"cache:prune file"``) as ``python -m freight ...`` when due."""
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        return self._add(CommandEvent(argv, lambda: list(self.cli_options), self.default_tz), catch_up)

    def warm(self, *names: str, catch_up: bool = False) -> WarmEvent:
        """Run the cache warmers ``names`` (registered with ``app.warmer``) when due, in this process."""
        return self._add(WarmEvent(self.app, names, self.default_tz), catch_up)

    def _add(self, event: E, catch_up: bool) -> E:
        event.catch_up(catch_up)
        self.events.append(event)
        return event

    def use_cache(self, store: str | None) -> Schedule:
        """Keep claims, locks and run records in cache store ``store`` (None: the default store)."""
        self.store = store
        return self

    # -- reading -------------------------------------------------------------------------------
    def cache(self) -> Repository:
        """The cache repository that holds claims, locks and run records."""
        return self.app.cache().store(self.store)

    def state(self, clock: Callable[[], float] = time.time) -> ScheduleState:
        """Claims and records of this schedule in :meth:`cache`."""
        return ScheduleState(self.cache(), clock)

    def checked_events(self) -> list[Event]:
        """The events, each expression validated; :class:`ConfigurationError` if two share an identity."""
        seen: dict[str, Event] = {}
        for event in self.events:
            event.parsed  # noqa: B018 - parses and validates the expression
            other = seen.setdefault(event.identity, event)
            if other is not event:
                raise ConfigurationError(
                    f"two scheduled events are both {event.identity!r}: give one a name with .name('...')"
                )
        return list(self.events)

    def find(self, name: str) -> list[Event]:
        """The events whose name, description or identity is ``name``."""
        return [e for e in self.events if name in (e.label, e.description, e.identity)]

    def status(self, now: float | None = None) -> list[dict[str, Any]]:
        """One row per event: name, kind, expression, timezone, flags, next run, last run, last missed.

        ``next_run`` is an aware datetime in the event's zone; ``last_run`` is the record of
        the last run by any scheduler (``due``, ``started``, ``finished``: Unix times;
        ``outcome``: ``running``, ``ok`` or ``failed``; ``detail``; ``host``) or None.
        """
        now = time.time() if now is None else now
        state = self.state()
        rows = []
        for event in self.checked_events():
            cron = event.parsed
            rows.append(
                {
                    "name": event.label,
                    "kind": event.kind,
                    "description": event.description,
                    "expression": event.expression,
                    "timezone": str(event.tz),
                    "on_one_server": event.one_server,
                    "without_overlapping": event.overlap_expires is not None,
                    "catch_up": event.catches_up,
                    "next_run": cron.local(cron.next_after(now)),
                    "last_run": state.last(event),
                    "last_missed": state.last_missed(event),
                }
            )
        return rows

    def __repr__(self) -> str:
        return f"<Schedule {len(self.events)} event(s) store={self.store or 'default'!r}>"
