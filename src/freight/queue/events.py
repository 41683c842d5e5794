"""Queue events: plain callables run when a job is pushed, starts, finishes, is retried or fails.

``QueueManager.on(name, fn)`` registers a listener. Every connection the manager builds
emits through the manager's one :class:`QueueEvents`, and so does every worker running
on those connections (``Worker.on`` registers on it too). Events, in the order a job
meets them:

============== ==============================================================================
``pushed``     after the payload was stored by ``push``, ``later`` or ``bulk`` (in the pusher)
``processing`` before ``handle()`` runs (in the worker)
``processed``  after the job was acknowledged (deleted from its queue) and its DONE line logged
``retrying``   after the job was released to run again (``delay`` set) and its RETRY line logged
``failed``     after the failed-store record, the job's ``failed()`` hook and the ack
============== ==============================================================================

A listener that raises is logged and ignored. Emitting an event nobody listens to
costs one attribute check (``events.active``) on the hot path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from freight.queue.job import Job

__all__ = ["EVENTS", "JobEvent", "QueueEvents"]

log = logging.getLogger("freight.worker")

#: every event name, in the order a job meets them
EVENTS = ("pushed", "processing", "processed", "retrying", "failed")


@dataclass(slots=True)
class JobEvent:
    """What a listener receives; ``job_id`` is the payload uuid (what ``push`` returned)."""

    event: str
    connection: str
    queue: str
    job_id: str
    job_class: str
    attempts: int
    instance: Job | None = None
    exception: BaseException | None = None
    delay: float | None = None
    duration: float | None = None
    payload: dict[str, Any] | None = None
    """the decoded payload (worker events; None for ``pushed`` and for a payload that cannot be read)"""


class QueueEvents:
    """Listeners by event name; ``active`` is True once any listener is registered."""

    EVENTS = EVENTS

    def __init__(self) -> None:
        self._fns: dict[str, list[Callable[[JobEvent], Any]]] = {e: [] for e in EVENTS}
        self.active = False

    def on(self, event: str, fn: Callable[[JobEvent], Any]) -> None:
        """Call ``fn(JobEvent)`` on ``event``."""
        if event not in self._fns:
            raise ValueError(f"unknown queue event {event!r}; known events: {', '.join(EVENTS)}")
        self._fns[event].append(fn)
        self.active = True

    def listens(self, event: str) -> bool:
        """True when ``event`` has a listener."""
        return bool(self._fns.get(event))

    def emit(self, event: JobEvent) -> None:
        """Call every listener of ``event.event``; one that raises is logged and skipped."""
        for fn in self._fns[event.event]:
            try:
                fn(event)
            except Exception:
                log.exception("queue event listener %r for %r raised", fn, event.event)
