"""The Job base class: application code subclasses it and implements ``handle()``.

Class-level options (each may also be set on one instance before it is pushed):

============== =====================================================================
``queue``      the queue to push on (default: the connection's queue)
``connection`` the connection ``dispatch()`` uses (default: the default connection)
``tries``      attempts before the job fails for good; ``None`` means the worker's
               ``--tries``, else 3; ``0`` means no limit (use with ``retry_until``)
``backoff``    seconds between attempts: a number, a list indexed by attempt (the last
               repeating), a method ``backoff(self, attempt)`` or a one-argument
               function ``backoff = lambda attempt: ...``; ``None`` means the worker's
               ``--backoff``, else exponential with jitter (about 1, 2, 4 s ... capped
               at 10 minutes)
``timeout``    seconds one attempt may run; ``None`` means the worker's ``--timeout``,
               else 60; ``0`` disables the limit
``retry_until`` stop retrying after this: seconds after dispatch, a ``timedelta`` or
               an absolute ``datetime``
``delay``      push the job to run this much later (seconds, timedelta or datetime)
``unique``     a second push while one is queued (or running) is dropped: ``push``
               returns None (docs/workflows.md); with ``unique_for`` (seconds the lock
               may live, default 3600), ``unique_until`` ("done" or "processing"),
               ``unique_via`` (a cache store name) and ``unique_id()``
============== =====================================================================

``middleware()`` returns the policies ``handle()`` runs through
(:mod:`freight.queue.middleware`); ``batch()`` is the batch a job belongs to.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Mapping
from types import FunctionType
from typing import TYPE_CHECKING, Any

from freight.current import current_app
from freight.errors import ConfigurationError, QueueError
from freight.queue.backoff import BackoffPolicy
from freight.queue.backoff import validate as validate_backoff
from freight.queue.dispatch import PendingDispatch, check_data
from freight.timeutil import Duration, seconds_from

if TYPE_CHECKING:
    from freight.queue.batch import Batch

__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_TRIES", "Job"]

#: attempts when neither the job nor the worker sets ``tries``
DEFAULT_TRIES = 3
#: seconds one attempt may run when neither the job nor the worker sets ``timeout``
DEFAULT_TIMEOUT = 60.0


class Job:
    """A unit of background work: ``data`` travels in the payload, ``handle()`` runs in a worker."""

    queue: str | None = None
    connection: str | None = None
    tries: int | None = None
    backoff: BackoffPolicy = None
    timeout: float | None = None
    retry_until: Duration | None = None
    delay: Duration | None = None
    unique: bool = False
    unique_for: float = 3600
    unique_until: str = "done"
    unique_via: str | None = None

    #: extra payload fields (set by chains, batches and unique pushes; not for applications)
    extra_payload: dict[str, Any] | None = None
    #: set by the worker before ``handle()``: the batch this job belongs to, if any
    current_batch: Batch | None = None
    #: set by the worker before ``handle()``: how many times this job has been reserved, this time included
    attempts: int = 0
    #: set by the worker before ``handle()``: the payload's uuid (what ``push`` returned)
    job_id: str | None = None

    def __init__(self, data: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        if data is not None and not isinstance(data, Mapping):
            raise TypeError(f"{type(self).__name__} data must be a mapping, got {type(data).__name__}")
        self.data: dict[str, Any] = {**(data or {}), **kwargs}
        self._released: Duration | None = None
        self._failure: BaseException | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        where = cls.__qualname__
        tries = vars(cls).get("tries")
        if tries is not None and (
            isinstance(tries, bool) or not isinstance(tries, int) or not 0 <= tries < 2**31 - 1
        ):
            raise ConfigurationError(
                f"{where}.tries must be an int from 0 to 2**31-2, or None, got {tries!r}"
            )
        timeout = vars(cls).get("timeout")
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 <= timeout <= 366 * 86400
        ):
            raise ConfigurationError(
                f"{where}.timeout must be seconds from 0 to a year, or None, got {timeout!r}"
            )
        until = vars(cls).get("unique_until")
        if until is not None and until not in ("done", "processing"):
            raise ConfigurationError(f"{where}.unique_until must be 'done' or 'processing', got {until!r}")
        unique_for = vars(cls).get("unique_for")
        if unique_for is not None and (
            isinstance(unique_for, bool) or not isinstance(unique_for, int | float) or unique_for <= 0
        ):
            raise ConfigurationError(
                f"{where}.unique_for must be positive seconds (a unique lock must expire), got {unique_for!r}"
            )
        backoff = vars(cls).get("backoff")
        if isinstance(backoff, FunctionType) and backoff.__code__.co_argcount == 1:
            cls.backoff = staticmethod(backoff)  # ``backoff = lambda attempt: ...`` in a class body
        elif backoff is not None and not isinstance(backoff, FunctionType | staticmethod):
            validate_backoff(backoff, f"{where}.backoff")

    # -- what the worker calls ----------------------------------------------------------
    def handle(self) -> None | Awaitable[None]:
        """Do the work; raise to have the job retried with its backoff. May be ``async def``: the
        worker then runs it on its event loop (``--concurrency N`` at once)."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement handle()")

    def failed(self, exc: BaseException) -> None:
        """Called once, in the worker, when the job has failed for good; override to clean up."""

    def middleware(self) -> list[Any]:
        """The policies ``handle()`` runs through, outermost first (see freight.queue.middleware)."""
        return []

    def unique_id(self) -> str:
        """What makes two pushes of a ``unique`` job class the same (default: the class alone)."""
        return ""

    def batch(self) -> Batch | None:
        """The batch this job runs in (its state read afresh on each call), or None."""
        found = self.current_batch
        return found.fresh() if found is not None else None

    # -- what handle() may call -----------------------------------------------------------
    def release(self, delay: Duration = 0) -> None:
        """Put this job back on its queue after ``handle()`` returns, to run again after ``delay``.

        The attempt counts towards ``tries``.
        """
        self._released = delay

    def fail(self, exc: BaseException | None = None) -> None:
        """Fail this job for good once ``handle()`` returns, without further retries."""
        self._failure = (
            exc if exc is not None else QueueError(f"{type(self).__qualname__} marked itself as failed")
        )

    # -- what the worker reads after handle() --------------------------------------------
    def reset_outcome(self) -> None:
        """Forget earlier :meth:`release` / :meth:`fail` requests (called before ``handle()``)."""
        self._released = None
        self._failure = None

    def requested_outcome(self) -> tuple[BaseException | None, Duration | None]:
        """``(failure, release delay)`` requested by :meth:`fail` / :meth:`release` during ``handle()``."""
        return self._failure, self._released

    # -- payload helpers ------------------------------------------------------------------
    def get_data(self) -> dict[str, Any]:
        """The data to put in the payload (a JSON-encodable dict)."""
        return self.data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Job:
        """Rebuild the job in the worker from its payload data (the inverse of :meth:`get_data`).

        A class with its own ``__init__`` receives the data as keyword arguments.
        """
        if cls.__init__ is Job.__init__:
            return cls(data)
        return cls(**data)

    def retry_until_timestamp(self, now: float) -> float | None:
        """The Unix time after which the job is not retried, or None (``retry_until`` from ``now``)."""
        if self.retry_until is None:
            return None
        return now + seconds_from(self.retry_until, now)

    # -- dispatching ------------------------------------------------------------------------
    @classmethod
    def on_queue(cls, name: str) -> PendingDispatch:
        """A dispatch on queue ``name``: ``Job.on_queue("high").delay(30).dispatch(...)``."""
        return PendingDispatch(cls).on_queue(name)

    @classmethod
    def on_connection(cls, name: str) -> PendingDispatch:
        """A dispatch through connection ``name``: ``Job.on_connection("redis").dispatch(...)``."""
        return PendingDispatch(cls).on_connection(name)

    @classmethod
    def dispatch(cls, data: Mapping[str, Any] | None = None, **kwargs: Any) -> str | None:
        """Push a new job through the current Application's queue, on the job's own connection
        and queue; returns its id (None when a ``unique`` job was dropped). Keywords are data;
        option names (``queue=``, ``delay=``...) are refused: see :meth:`on_queue`."""
        check_data(cls, kwargs)
        job = cls(**kwargs) if data is None else cls(data, **kwargs)
        return current_app().queue().connection(job.connection).push(job)

    @classmethod
    def dispatch_later(
        cls,
        delay: int | float | dt.timedelta | dt.datetime,
        data: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> str | None:
        """Like :meth:`dispatch`, available after ``delay`` (seconds, timedelta or datetime)."""
        check_data(cls, kwargs)
        job = cls(**kwargs) if data is None else cls(data, **kwargs)
        return current_app().queue().connection(job.connection).later(delay, job)

    @classmethod
    async def adispatch(cls, data: Mapping[str, Any] | None = None, **kwargs: Any) -> str | None:
        """:meth:`dispatch` for coroutines (FastAPI handlers): the push runs in a worker thread, so
        the event loop never waits on the queue's server."""
        return await asyncio.to_thread(cls.dispatch, data, **kwargs)

    @classmethod
    async def adispatch_later(
        cls,
        delay: int | float | dt.timedelta | dt.datetime,
        data: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> str | None:
        """:meth:`dispatch_later` for coroutines."""
        return await asyncio.to_thread(cls.dispatch_later, delay, data, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} {getattr(self, 'data', {})!r}>"
