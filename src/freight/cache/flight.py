"""Stampede protection: single-flight ``remember``, ``flexible`` and XFetch (``beta=``).

**Single flight.** On a miss, threads of one process computing the same key join one
*flight*: the first computes, the others wait for its result (``flight_waits``).
Across processes the computer holds the store's own lock ``flight:<key>`` (its TTL is
``lock_wait``, so a computer that dies frees it); a caller that finds the lock taken
polls the cache (5 ms, doubling to 50 ms) and returns the value as soon as it lands
(``lock_waits``). A caller that has waited ``lock_wait`` seconds computes the value
itself: never a hang. The lock holder reads the key once more before computing, so a
value that landed meanwhile is never computed twice.

**flexible** keeps, beside the value, when it was computed (``c:<key>`` in the
store's ``f`` key space). Fresh: returned. Stale (past ``fresh``, within ``stale``):
returned at once, and one refresh runs in the background: in a thread, or as a queued
job (``defer="queue"``), guarded by the lock ``refresh:<key>`` so one process refreshes
at a time. Missing (past ``stale``): computed like ``remember``.

**XFetch** (Vattani, Chierichetti, Lowenstein, VLDB 2015): with ``beta > 0`` the time
the computation took (delta) and the expiry are kept beside the value (``x:<key>``),
and a read recomputes early when ``now - delta * beta * ln(random()) >= expiry``: the
closer the expiry and the slower the computation, the likelier an early refresh, so
one caller refreshes before the crowd ever sees a miss.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from freight.cache.events import LockWaited, SingleFlightWaited, ValueRefreshed
from freight.errors import ConfigurationError

if TYPE_CHECKING:
    from freight.cache.repository import Repository, Tags
    from freight.cache.stores.base import Store

__all__ = ["DEFAULT_LOCK_WAIT", "FlightHooks", "Flights", "Runner", "queue_refresh", "set_queue_refresher"]

#: seconds a caller waits for another's computation before computing itself
DEFAULT_LOCK_WAIT = 10.0
#: runs a background refresh (a daemon thread by default)
Runner = Callable[[Callable[[], None]], None]
_FIRST_POLL, _MAX_POLL = 0.005, 0.05
_ABSENT: Any = object()


#: how ``flexible(defer="queue")`` queues a refresh; installed by :mod:`freight.warmup` (the
#: queue layer sits above the cache, so the cache cannot import it)
_QUEUE_REFRESHER: list[Callable[..., None]] = []


def set_queue_refresher(refresher: Callable[..., None]) -> None:
    """Install ``refresher(repository, key, fresh, stale, fn, tags)`` for ``defer="queue"``."""
    _QUEUE_REFRESHER[:] = [refresher]


def queue_refresh(repository: Repository, key: str, fresh: float, stale: float, fn: Any, tags: Any) -> None:
    """Queue a ``flexible`` refresh through the installed refresher."""
    if not _QUEUE_REFRESHER:
        raise ConfigurationError(
            "flexible(..., defer='queue') needs freight's queue: create a freight.Application (its "
            "cache() installs the queued refresh) or import freight.warmup"
        )
    _QUEUE_REFRESHER[0](repository, key, fresh, stale, fn, tags)


class _Flight:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


def in_thread(refresh: Callable[[], None]) -> None:
    """Run ``refresh`` in a daemon thread."""
    threading.Thread(target=refresh, name="freight-cache-refresh", daemon=True).start()


class FlightHooks(NamedTuple):
    """What :class:`Flights` needs from its repository beyond the public API."""

    peek: Callable[[str, Any], Any]
    """the value under a key or the default, counting no hit or miss"""
    note: Callable[..., None]
    """``note(stat, event_factory)``: count a stat, emit the event when anyone listens"""
    now: Callable[[], float]
    """the repository's clock"""
    seconds_of: Callable[[Any], float | None]
    """a TTL in seconds (None: forever)"""
    defer_refresh: Callable[..., None]
    """queue a flexible refresh as a job"""


class Flights:
    """The single-flight, flexible and XFetch logic of one repository."""

    def __init__(self, repository: Repository, hooks: FlightHooks) -> None:
        self.repository = repository
        self.hooks = hooks
        self._mutex = threading.Lock()
        self._flights: dict[str, _Flight] = {}
        self._refreshing: set[str] = set()
        #: runs background refreshes; tests replace it to run them in place
        self.runner: Runner = in_thread
        self._meta: Store | None = None

    @property
    def meta(self) -> Store:
        """The store's ``f`` key space: computed-at times and XFetch records."""
        if self._meta is None:
            self._meta = self.repository.store.space("f")
        return self._meta

    # -- remember -----------------------------------------------------------------------
    def remember(
        self, key: str, ttl: Any, fn: Callable[[], Any], tags: Tags, lock: bool, lock_wait: float
    ) -> Any:
        """The miss path of ``remember``: compute once per key across threads and processes."""
        repo = self.repository
        if not lock:
            value = fn()
            repo.put(key, value, ttl, tags=tags)
            return value
        with self._mutex:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            started = time.monotonic()
            landed = flight.done.wait(lock_wait)
            self.hooks.note(
                "flight_waits", lambda: SingleFlightWaited(repo.name, key, time.monotonic() - started)
            )
            if landed and flight.error is None:
                return flight.value
            return self._compute(key, ttl, fn, tags)  # the computer failed or is too slow
        try:
            flight.value = self._lead(key, ttl, fn, tags, lock_wait)
            return flight.value
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._mutex:
                self._flights.pop(key, None)
            flight.done.set()

    def _lead(self, key: str, ttl: Any, fn: Callable[[], Any], tags: Tags, lock_wait: float) -> Any:
        """Compute under the store's lock, or wait for the process holding it."""
        repo = self.repository
        held = repo.lock(f"flight:{key}", max(lock_wait, 0.001))
        started = time.monotonic()
        deadline, delay = started + lock_wait, _FIRST_POLL
        while True:
            if held.acquire():
                try:
                    value = self.hooks.peek(key, _ABSENT)  # it may have landed since our miss
                    if value is not _ABSENT:
                        return value
                    return self._compute(key, ttl, fn, tags)
                finally:
                    held.release()
            value = self.hooks.peek(key, _ABSENT)
            if value is not _ABSENT or time.monotonic() >= deadline:
                event = LockWaited(repo.name, key, time.monotonic() - started, value is _ABSENT)
                self.hooks.note("lock_waits", lambda e=event: e)
                return self._compute(key, ttl, fn, tags) if event.computed else value
            time.sleep(delay)
            delay = min(delay * 2, _MAX_POLL)

    def _compute(self, key: str, ttl: Any, fn: Callable[[], Any], tags: Tags) -> Any:
        value = fn()
        self.repository.put(key, value, ttl, tags=tags)
        return value

    # -- XFetch -------------------------------------------------------------------------
    def xfetch(
        self, key: str, ttl: Any, fn: Callable[[], Any], tags: Tags, beta: float, lock: bool, lock_wait: float
    ) -> Any:
        """``remember`` with probabilistic early recomputation."""
        repo = self.repository
        value = self.hooks.peek(key, _ABSENT)
        record = self.meta.get(f"x:{key}") if value is not _ABSENT else None
        if value is not _ABSENT:
            delta, expiry = _xfetch_record(record)
            now = self.hooks.now()
            if expiry is None or now - delta * beta * math.log(random.random() or 1e-300) < expiry:
                return repo.get(key)  # counted as a hit
        started = time.monotonic()
        if value is _ABSENT:
            value = self.remember(key, ttl, fn, tags, lock, lock_wait)
        else:
            value = self._compute(key, ttl, fn, tags)
            self.hooks.note("refreshes", lambda: ValueRefreshed(repo.name, key, time.monotonic() - started))
        seconds = self.hooks.seconds_of(ttl)
        if seconds is not None and seconds > 0:
            delta = time.monotonic() - started
            self.meta.put(f"x:{key}", b"%r %r" % (delta, self.hooks.now() + seconds), seconds)
        return value

    # -- flexible -----------------------------------------------------------------------
    def flexible(
        self,
        key: str,
        fresh: float,
        stale: float,
        fn: Callable[[], Any],
        tags: Tags,
        defer: str,
        lock_wait: float,
    ) -> Any:
        """Fresh: the value; stale: the value now and one refresh in the background; missing:
        computed as ``remember`` does."""
        repo, meta = self.repository, self.meta
        value = repo.get(key, _ABSENT)
        if value is not _ABSENT:
            created = _float(meta.get(f"c:{key}"))
            if (created is None or self.hooks.now() - created >= fresh) and key not in self._refreshing:
                self._refresh_later(key, fresh, stale, fn, tags, defer)
            return value

        def build() -> Any:
            computed = fn()
            meta.put(f"c:{key}", repr(self.hooks.now()).encode(), stale)
            return computed

        return self.remember(key, stale, build, tags, True, lock_wait)

    def _refresh_later(
        self, key: str, fresh: float, stale: float, fn: Callable[[], Any], tags: Tags, defer: str
    ) -> None:
        """Start one refresh of ``key`` unless one is running anywhere (the ``refresh:`` lock)."""
        repo = self.repository
        guard = repo.lock(f"refresh:{key}", max(stale, 1.0))
        if not guard.acquire():
            return
        if defer == "queue":
            guard.release()  # the job takes the lock itself
            self.hooks.defer_refresh(key, fresh, stale, fn, tags)
            return

        self._refreshing.add(key)  # this process's next stale reads skip the lock

        def refresh() -> None:
            try:
                self.refresh(key, fresh, stale, fn, tags)
            finally:
                self._refreshing.discard(key)
                guard.release()

        self.runner(refresh)

    def refresh(self, key: str, fresh: float, stale: float, fn: Callable[[], Any], tags: Tags) -> None:
        """Recompute ``key`` now (unless another refresh made it fresh meanwhile)."""
        repo, meta = self.repository, self.meta
        created = _float(meta.get(f"c:{key}"))
        if created is not None and self.hooks.now() - created < fresh:
            return
        started = time.monotonic()
        value = fn()
        repo.put(key, value, stale, tags=tags)
        meta.put(f"c:{key}", repr(self.hooks.now()).encode(), stale)
        self.hooks.note("refreshes", lambda: ValueRefreshed(repo.name, key, time.monotonic() - started))


def _float(raw: bytes | None) -> float | None:
    try:
        return None if raw is None else float(raw)
    except ValueError:
        return None


def _xfetch_record(raw: bytes | None) -> tuple[float, float | None]:
    if raw is None:
        return 0.0, None
    try:
        delta, expiry = raw.split()
        return float(delta), float(expiry)
    except ValueError:
        return 0.0, None
