"""The Repository: the user-facing cache API, written once on top of a Store's primitives.

A repository owns the codec (values become bytes before they reach the store), the
TTL rules (None is forever, ``<= 0`` forgets), key checking, hit/miss counters and
event delivery. Stores only ever see string keys, encoded bytes and a TTL that is a
positive number of seconds or None.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from freight.cache.async_repository import AsyncMethods
from freight.cache.events import (
    CacheEvent,
    CacheFlushed,
    CacheHit,
    CacheMissed,
    KeyForgotten,
    KeyIncremented,
    KeyWritten,
    Listener,
)
from freight.cache.features import FeatureMethods, Tags
from freight.cache.flight import DEFAULT_LOCK_WAIT, Flights
from freight.cache.funnel import Funnel
from freight.cache.limiter import RateLimiter
from freight.cache.lock import Lock
from freight.cache.stores.base import Clock, Store
from freight.cache.tags import MARK as TAG_MARK
from freight.cache.tags import TagOps
from freight.errors import InvalidKeyError, SerializationError
from freight.serialization import Codec, JsonCodec
from freight.timeutil import Duration, seconds_from

__all__ = ["EXTRA_STATS", "Repository", "Tags"]

log = logging.getLogger("freight.cache")

R = TypeVar("R")
#: counters of :meth:`Repository.stats` beyond hits, misses, writes and forgets
EXTRA_STATS = ("tag_flushes", "flight_waits", "lock_waits", "refreshes")
_MISSING: Any = object()


class Repository(FeatureMethods, AsyncMethods):
    """The cache API of one store: get, put, add, remember, locks, counters and events (and their
    ``a*`` coroutine twins, see :mod:`freight.cache.async_repository`)."""

    #: the marker the internals return for "no value" (the asyncio half compares with it)
    _absent: ClassVar[Any] = _MISSING

    def __init__(
        self,
        store: Store,
        codec: Codec | None = None,
        *,
        clock: Clock = time.time,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.store = store
        self.codec: Codec = codec if codec is not None else JsonCodec()
        self.name = store.name
        self._clock = clock
        self._listeners: list[Listener] = list(listeners)
        # bound once: the hot paths call these without attribute lookups on self.store/codec
        self._get = store.get
        self._put = store.put
        self._dumps = self.codec.dumps
        self._loads = self.codec.loads
        self._hits = 0
        self._misses = 0
        self._writes = 0
        self._forgets = 0
        self._tag_ops: TagOps | None = None
        self._flights: Flights | None = None
        #: counters of the round 2 features (tag flushes, single-flight and lock waits)
        self.extra_stats: dict[str, int] = dict.fromkeys(EXTRA_STATS, 0)

    # -- reading ------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key``, or ``default`` on a miss (a callable default is called)."""
        if not isinstance(key, str):
            raise _bad_key(key)
        value = self._lookup(key)
        if value is _MISSING:
            return default() if callable(default) else default
        return value

    def many(self, keys: Iterable[str], default: Any = None) -> dict[str, Any]:
        """A dict of every key in ``keys`` to its value, or ``default`` for the misses."""
        keys = list(keys)
        for key in keys:
            if not isinstance(key, str):
                raise _bad_key(key)
        result: dict[str, Any] = {}
        for key, raw in self.store.many(keys).items():
            value = _MISSING if raw is None else self._decode(key, raw)
            result[key] = default if value is _MISSING else value
            self._count_read(key, value)
        return result

    def has(self, key: str) -> bool:
        """True when ``key`` holds a value (a cached None counts)."""
        if not isinstance(key, str):
            raise _bad_key(key)
        return self._lookup(key) is not _MISSING

    def missing(self, key: str) -> bool:
        """True when ``key`` holds no value."""
        return not self.has(key)

    def pull(self, key: str, default: Any = None) -> Any:
        """Get ``key`` and remove it (two operations, not atomic)."""
        if not isinstance(key, str):
            raise _bad_key(key)
        value = self._lookup(key)
        if value is _MISSING:
            return default() if callable(default) else default
        self.forget(key)
        return value

    # -- writing ------------------------------------------------------------------------
    def put(self, key: str, value: Any, ttl: Duration | None = None, *, tags: Tags = None) -> bool:
        """Store ``value`` for ``ttl`` (None: forever; seconds, timedelta or datetime; ``<= 0``
        removes the key and returns True), tagged with ``tags`` if given."""
        if not isinstance(key, str):
            raise _bad_key(key)
        if ttl is None:
            seconds = None
        else:
            seconds = self._seconds(ttl)
            if seconds <= 0:
                self.forget(key)
                return True
        try:
            data = self._dumps(value)
        except SerializationError as exc:
            raise self._encode_error(key, exc) from exc
        if tags is None:
            ok = self._put(key, data, seconds)
        else:
            ok = self._tagging().put(key, data, seconds, self._tag_list(tags))
        if ok:
            self._writes += 1
            if self._listeners:
                self._emit(KeyWritten(self.name, key, value, seconds))
        return ok

    def put_many(self, values: Mapping[str, Any], ttl: Duration | None = None, *, tags: Tags = None) -> bool:
        """Store every item of ``values`` with one TTL (tagged with ``tags`` if given); nothing is
        written if any value cannot be encoded."""
        encoded: dict[str, bytes] = {}
        for key, value in values.items():
            if not isinstance(key, str):
                raise _bad_key(key)
            try:
                encoded[key] = self._dumps(value)
            except SerializationError as exc:
                raise self._encode_error(key, exc) from exc
        seconds = None if ttl is None else self._seconds(ttl)
        if seconds is not None and seconds <= 0:
            for key in encoded:
                self.forget(key)
            return True
        if not encoded:
            return True
        if tags is None:
            ok = self.store.put_many(encoded, seconds)
        else:
            ok = self._tagging().put_many(encoded, seconds, self._tag_list(tags))
        if ok:
            self._writes += len(encoded)
            if self._listeners:
                for key, value in values.items():
                    self._emit(KeyWritten(self.name, key, value, seconds))
        return ok

    def add(self, key: str, value: Any, ttl: Duration | None = None, *, tags: Tags = None) -> bool:
        """Store ``value`` only if ``key`` holds nothing, atomically; True when it was stored."""
        if not isinstance(key, str):
            raise _bad_key(key)
        seconds = None if ttl is None else self._seconds(ttl)
        if seconds is not None and seconds <= 0:
            return False
        try:
            data = self._dumps(value)
        except SerializationError as exc:
            raise self._encode_error(key, exc) from exc
        if tags is None:
            added = self.store.add(key, data, seconds)
        else:
            added = self._tagging().add(key, data, seconds, self._tag_list(tags))
        if added:
            self._writes += 1
            if self._listeners:
                self._emit(KeyWritten(self.name, key, value, seconds))
        return added

    def forever(self, key: str, value: Any, *, tags: Tags = None) -> bool:
        """Store ``value`` with no expiry."""
        return self.put(key, value, None, tags=tags)

    def forget(self, key: str) -> bool:
        """Remove ``key``; True when there was an entry to remove."""
        if not isinstance(key, str):
            raise _bad_key(key)
        existed = self.store.forget(key)
        self._forgets += 1
        if self._listeners:
            self._emit(KeyForgotten(self.name, key, existed))
        return existed

    def increment(self, key: str, by: int = 1, *, tags: Tags = None) -> int:
        """Atomically add ``by`` to the integer under ``key`` (a missing key starts at 0); keeps its
        TTL. With ``tags``, a flush of them deletes the counter."""
        if not isinstance(key, str):
            raise _bad_key(key)
        if isinstance(by, bool) or not isinstance(by, int):
            raise TypeError(f"increment step must be an int, not {type(by).__name__}")
        if tags is not None:
            self._tagging().register(key, None, self._tag_list(tags))
        value = self.store.increment(key, by)
        self._writes += 1
        if self._listeners:
            self._emit(KeyIncremented(self.name, key, by, value))
        return value

    def decrement(self, key: str, by: int = 1) -> int:
        """Atomically subtract ``by`` from the integer under ``key`` (a missing key starts at 0)."""
        if isinstance(by, bool) or not isinstance(by, int):
            raise TypeError(f"decrement step must be an int, not {type(by).__name__}")
        return self.increment(key, -by)

    def remember(
        self,
        key: str,
        ttl: Duration | None,
        fn: Callable[[], R],
        tags: Tags = None,  # positional-or-keyword on purpose: defaults from a tuple, not a dict
        lock: bool = True,
        lock_wait: float = DEFAULT_LOCK_WAIT,
        beta: float = 0.0,
    ) -> R:
        """The value under ``key``; on a miss ``fn()`` is computed once (across threads and, through
        the store's lock, processes; others wait up to ``lock_wait`` seconds for it), stored for
        ``ttl`` and returned. ``lock=False``: every caller computes. ``beta > 0``: XFetch early
        refresh."""
        if not isinstance(key, str):
            raise _bad_key(key)
        if not beta:
            value = self._lookup(key)
            if value is not _MISSING:
                return value  # type: ignore[no-any-return]
            return self._flights_of().remember(key, ttl, fn, tags, lock, lock_wait)  # type: ignore[no-any-return]
        return self._flights_of().xfetch(key, ttl, fn, tags, beta, lock, lock_wait)  # type: ignore[no-any-return]

    def remember_forever(self, key: str, fn: Callable[[], R], **options: Any) -> R:
        """Like :meth:`remember`, storing the computed value with no expiry."""
        return self.remember(key, None, fn, **options)

    def touch(self, key: str, ttl: Duration | None) -> bool:
        """Give an existing ``key`` a new TTL (None: forever; ``<= 0`` removes it); False when it is
        missing."""
        if not isinstance(key, str):
            raise _bad_key(key)
        seconds = None if ttl is None else self._seconds(ttl)
        if seconds is not None and seconds <= 0:
            return self.forget(key)
        return self.store.touch(key, seconds)

    def flush(self) -> bool:
        """Remove every entry of this store (its prefix only, where the backend allows)."""
        ok = self.store.flush()
        if self._listeners:
            self._emit(CacheFlushed(self.name))
        return ok

    def prune(self) -> int:
        """Delete expired entries the backend does not expire by itself; return how many."""
        return self.store.prune()

    # -- locks --------------------------------------------------------------------------
    def lock(self, name: str, seconds: float = 0, owner: str | None = None) -> Lock:
        """An atomic lock held for ``seconds`` once acquired (0: until released)."""
        if not isinstance(name, str):
            raise _bad_key(name)
        return self.store.lock(name, seconds, owner)

    def restore_lock(self, name: str, owner: str) -> Lock:
        """The lock ``name`` as held by ``owner`` (e.g. in another process), to release or
        refresh it."""
        return self.lock(name, 0, owner)

    # -- limiters -----------------------------------------------------------------------
    def limiter(self) -> RateLimiter:
        """Laravel's RateLimiter on this store: hit, attempts, remaining, attempt, clear..."""
        return RateLimiter(self, self._clock)

    def funnel(self, name: str, limit: int, block: float = 0, release_after: float = 60) -> Funnel:
        """At most ``limit`` holders of ``name`` at once (``with cache.funnel(...):``), waiting up
        to ``block`` seconds for a slot; a dead holder's slot expires after ``release_after``."""
        return Funnel(self, name, limit, block, release_after)

    # -- observing ----------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        """Counters since creation: hits, misses, writes, forgets, tag flushes, single-flight waits
        (a caller waited for another's computation), lock waits (for another process's) and
        background refreshes."""
        return {
            "hits": self._hits,
            "misses": self._misses,
            "writes": self._writes,
            "forgets": self._forgets,
            **self.extra_stats,
        }

    def reset_stats(self) -> None:
        """Set every counter back to zero."""
        self._hits = self._misses = self._writes = self._forgets = 0
        self.extra_stats = dict.fromkeys(EXTRA_STATS, 0)

    def listen(self, listener: Listener) -> None:
        """Call ``listener`` with every event of this repository."""
        self._listeners.append(listener)

    def close(self) -> None:
        """Close the underlying store."""
        self.store.close()

    # -- internals ----------------------------------------------------------------------
    def _lookup(self, key: str) -> Any:
        """The decoded value under ``key`` or ``_MISSING``, counting the hit or miss."""
        raw = self._get(key)
        if raw is None:
            self._misses += 1
            if self._listeners:
                self._emit(CacheMissed(self.name, key))
            return _MISSING
        try:
            value = self._loads(raw)
        except SerializationError as exc:
            value = self._undecodable(key, raw, exc)  # a tagged entry lands here: no cost otherwise
            if value is _MISSING:
                self._misses += 1
                if self._listeners:
                    self._emit(CacheMissed(self.name, key))
                return _MISSING
        self._hits += 1
        if self._listeners:
            self._emit(CacheHit(self.name, key, value))
        return value

    def _decode(self, key: str, raw: bytes) -> Any:
        try:
            return self._loads(raw)
        except SerializationError as exc:
            return self._undecodable(key, raw, exc)

    def _undecodable(self, key: str, raw: bytes, exc: SerializationError) -> Any:
        """The value of a tagged entry (``_MISSING`` if a tag was flushed since), or ``_MISSING``
        after discarding an unreadable value."""
        if raw[:2] == TAG_MARK:
            inner = self._tagging().unwrap(raw)
            if inner is None:
                return _MISSING
            try:
                return self._loads(inner)
            except SerializationError as inner_exc:
                exc = inner_exc
        self._discard(key, exc)
        return _MISSING

    def _count_read(self, key: str, value: Any) -> None:
        if value is _MISSING:
            self._misses += 1
            if self._listeners:
                self._emit(CacheMissed(self.name, key))
        else:
            self._hits += 1
            if self._listeners:
                self._emit(CacheHit(self.name, key, value))

    def _discard(self, key: str, exc: SerializationError) -> None:
        log.warning("cache store %r: discarding unreadable value of key %r: %s", self.name, key, exc)
        self.store.forget(key)

    def _seconds(self, ttl: Duration) -> float:
        kind = type(ttl)
        if kind is int:
            return float(ttl)  # type: ignore[arg-type]
        if kind is float and ttl - ttl == 0.0:  # type: ignore[operator]  # finite: NaN/inf raise below
            return ttl  # type: ignore[return-value]
        return seconds_from(ttl, self._clock())

    def _encode_error(self, key: str, exc: SerializationError) -> SerializationError:
        return SerializationError(f"cannot cache key {key!r} in store {self.name!r}: {exc}")

    def _emit(self, event: CacheEvent) -> None:
        for listener in self._listeners:
            listener(event)

    def __repr__(self) -> str:
        return f"<Repository {self.name!r} {self.store!r} codec={self.codec.name}>"


def _bad_key(key: object) -> InvalidKeyError:
    return InvalidKeyError(f"cache keys must be strings, got {type(key).__name__}: {key!r:.80}")
