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
from typing import Any, TypeVar

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
from freight.cache.funnel import Funnel
from freight.cache.limiter import RateLimiter
from freight.cache.lock import Lock
from freight.cache.stores.base import Clock, Store
from freight.errors import InvalidKeyError, SerializationError
from freight.serialization import Codec, JsonCodec
from freight.timeutil import Duration, seconds_from

__all__ = ["Repository"]

log = logging.getLogger("freight.cache")

R = TypeVar("R")
_MISSING: Any = object()


class Repository(AsyncMethods):
    """The cache API of one store: get, put, add, remember, locks, counters and events (and their
    ``a*`` coroutine twins, see :mod:`freight.cache.async_repository`)."""

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
    def put(self, key: str, value: Any, ttl: Duration | None = None) -> bool:
        """Store ``value`` for ``ttl`` (None: forever; seconds, timedelta or datetime; ``<= 0``
        removes the key and returns True)."""
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
        ok = self._put(key, data, seconds)
        if ok:
            self._writes += 1
            if self._listeners:
                self._emit(KeyWritten(self.name, key, value, seconds))
        return ok

    def put_many(self, values: Mapping[str, Any], ttl: Duration | None = None) -> bool:
        """Store every item of ``values`` with one TTL; nothing is written if any value cannot be
        encoded."""
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
        ok = self.store.put_many(encoded, seconds)
        if ok:
            self._writes += len(encoded)
            if self._listeners:
                for key, value in values.items():
                    self._emit(KeyWritten(self.name, key, value, seconds))
        return ok

    def add(self, key: str, value: Any, ttl: Duration | None = None) -> bool:
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
        added = self.store.add(key, data, seconds)
        if added:
            self._writes += 1
            if self._listeners:
                self._emit(KeyWritten(self.name, key, value, seconds))
        return added

    def forever(self, key: str, value: Any) -> bool:
        """Store ``value`` with no expiry."""
        return self.put(key, value, None)

    def forget(self, key: str) -> bool:
        """Remove ``key``; True when there was an entry to remove."""
        if not isinstance(key, str):
            raise _bad_key(key)
        existed = self.store.forget(key)
        self._forgets += 1
        if self._listeners:
            self._emit(KeyForgotten(self.name, key, existed))
        return existed

    def increment(self, key: str, by: int = 1) -> int:
        """Atomically add ``by`` to the integer under ``key`` (a missing key starts at 0); keeps its
        TTL."""
        if not isinstance(key, str):
            raise _bad_key(key)
        if isinstance(by, bool) or not isinstance(by, int):
            raise TypeError(f"increment step must be an int, not {type(by).__name__}")
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

    def remember(self, key: str, ttl: Duration | None, fn: Callable[[], R]) -> R:
        """The value under ``key``; on a miss, ``fn()`` is called, stored for ``ttl`` and
        returned."""
        if not isinstance(key, str):
            raise _bad_key(key)
        value = self._lookup(key)
        if value is not _MISSING:
            return value  # type: ignore[no-any-return]
        computed = fn()
        self.put(key, computed, ttl)
        return computed

    def remember_forever(self, key: str, fn: Callable[[], R]) -> R:
        """Like :meth:`remember`, storing the computed value with no expiry."""
        return self.remember(key, None, fn)

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
        """Counters since creation: hits, misses, writes and forgets."""
        return {
            "hits": self._hits,
            "misses": self._misses,
            "writes": self._writes,
            "forgets": self._forgets,
        }

    def reset_stats(self) -> None:
        """Set every counter back to zero."""
        self._hits = self._misses = self._writes = self._forgets = 0

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
            self._discard(key, exc)
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
        if kind is int or kind is float:
            return float(ttl)  # type: ignore[arg-type]
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
