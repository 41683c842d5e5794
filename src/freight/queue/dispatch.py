"""Per-dispatch options: ``SendEmail.on_queue("high").delay(30).dispatch(email=...)``.

Options chosen at the call site never travel as job data: a :class:`PendingDispatch`
holds the queue, connection and delay of one dispatch, and ``Job.dispatch`` refuses
keyword arguments that are option names (``queue=``, ``delay=``...), which would
otherwise be stored silently as data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from freight.current import current_app
from freight.errors import ConfigurationError
from freight.timeutil import Duration

if TYPE_CHECKING:
    from freight.queue.job import Job

__all__ = ["RESERVED", "PendingDispatch", "check_data"]

#: keyword names ``dispatch()`` refuses as data: they are options of the job
RESERVED = frozenset({"queue", "connection", "delay", "tries", "backoff", "timeout", "retry_until"})


def check_data(cls: type[Job], kwargs: Mapping[str, Any]) -> None:
    """:class:`ConfigurationError` when ``kwargs`` (job data given as keywords) use an option name."""
    clash = sorted(RESERVED.intersection(kwargs))
    if clash:
        name = clash[0]
        raise ConfigurationError(
            f"{cls.__qualname__}.dispatch({name}=...) would store {name!r} as job data; options "
            f"are chosen with {cls.__qualname__}.on_queue(...), .on_connection(...) and "
            f".delay(...) before .dispatch(...). Data that really has a field named {name!r} "
            "goes in a dict: .dispatch({'" + name + "': ...})"
        )


class PendingDispatch:
    """A job class with the queue, connection and delay of one dispatch; each setter returns self."""

    def __init__(self, cls: type[Job]) -> None:
        self.cls = cls
        self._queue: str | None = None
        self._connection: str | None = None
        self._delay: Duration | None = None

    def on_queue(self, name: str) -> PendingDispatch:
        """Push on queue ``name``."""
        self._queue = _name(name, "queue")
        return self

    def on_connection(self, name: str) -> PendingDispatch:
        """Push through connection ``name``."""
        self._connection = _name(name, "connection")
        return self

    def delay(self, delay: Duration) -> PendingDispatch:
        """Make the job available after ``delay`` (seconds, timedelta or datetime)."""
        self._delay = delay
        return self

    def dispatch(self, data: Mapping[str, Any] | None = None, **kwargs: Any) -> str | None:
        """Build the job from ``data``/``kwargs`` and push it with these options; returns its id
        (None when a ``unique`` job was dropped)."""
        check_data(self.cls, kwargs)
        job = self.cls(**kwargs) if data is None else self.cls(data, **kwargs)
        queue = current_app().queue().connection(self._connection or job.connection)
        if self._delay is None:
            return queue.push(job, self._queue)
        return queue.later(self._delay, job, self._queue)

    async def adispatch(self, data: Mapping[str, Any] | None = None, **kwargs: Any) -> str | None:
        """:meth:`dispatch` for coroutines (the push runs in a worker thread)."""
        return await asyncio.to_thread(self.dispatch, data, **kwargs)

    def __repr__(self) -> str:
        return (
            f"<PendingDispatch {self.cls.__qualname__} queue={self._queue!r} "
            f"connection={self._connection!r} delay={self._delay!r}>"
        )


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"a {what} name must be a non-empty string, got {value!r}")
    return value
