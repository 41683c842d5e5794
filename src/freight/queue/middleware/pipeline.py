"""Running ``handle()`` through a job's middleware, and what a middleware can ask for.

A middleware is any callable ``mw(job, next)`` that calls ``next(job)`` to go on (Laravel's
``handle($job, $next)``); not calling it stops the job there (it counts as done). To put
the job back for later *without spending a try*, a middleware calls :func:`hold_back`;
:func:`current` gives it the connection's cache and clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from freight.queue.unique import connection_cache

if TYPE_CHECKING:
    from freight.cache.repository import Repository
    from freight.queue.drivers.base import Queue
    from freight.queue.job import Job

__all__ = ["Context", "Middleware", "current", "hold_back", "run"]

Middleware = Callable[["Job", Callable[["Job"], Any]], Any]


@dataclass(slots=True)
class Context:
    """What a middleware may use while a job runs."""

    queue: Queue
    timeout: float
    held_back: float | None = None

    def cache(self, store: str | None = None) -> Repository:
        """The cache store ``store`` of the current Application, or one on the connection's backend."""
        return connection_cache(self.queue, store)

    def clock(self) -> float:
        """The connection's clock (Unix seconds)."""
        return self.queue.clock()


_current: ContextVar[Context | None] = ContextVar("freight_middleware", default=None)


def current() -> Context:
    """The context of the job running in this thread (only inside middleware)."""
    context = _current.get()
    if context is None:
        raise RuntimeError("freight middleware context is only available while a worker runs a job")
    return context


def hold_back(job: Job, delay: float) -> None:
    """Put ``job`` back on its queue to run after ``delay`` seconds without counting this try."""
    current().held_back = max(0.0, float(delay))
    job.release(max(0.0, float(delay)))


def run(middleware: Sequence[Middleware], job: Job, queue: Queue, timeout: float) -> bool:
    """Run ``job.handle()`` through ``middleware`` (outermost first); True when one held it back."""
    context = Context(queue, timeout)
    token = _current.set(context)
    try:

        def call(index: int, target: Job) -> Any:
            if index == len(middleware):
                return target.handle()
            return middleware[index](target, lambda j: call(index + 1, j))

        call(0, job)
    finally:
        _current.reset(token)
    return context.held_back is not None
