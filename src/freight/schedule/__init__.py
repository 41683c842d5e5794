"""Scheduled jobs, callables and commands: ``app.schedule()``, run by ``python -m freight schedule:work``.

See docs/scheduling.md. Cron expressions need the ``schedule`` extra (cronsim).
"""

from __future__ import annotations

from freight.schedule.events import (
    CallEvent,
    CommandEvent,
    CommandFailedError,
    Event,
    JobEvent,
    WarmEvent,
    WarmFailedError,
)
from freight.schedule.runner import Run, Scheduler, current_run
from freight.schedule.schedule import Schedule

__all__ = [
    "CallEvent",
    "CommandEvent",
    "CommandFailedError",
    "Event",
    "JobEvent",
    "Run",
    "Schedule",
    "Scheduler",
    "WarmEvent",
    "WarmFailedError",
    "current_run",
]
