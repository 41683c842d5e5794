"""The array store: an in-process dict, thread-safe, with optional LRU eviction.

Values are kept encoded (as bytes), so mutating an object after caching it never
changes the cached copy, exactly as with the other stores. Expiry follows the
manager's clock. Nothing is shared between processes or between two array stores.

Config: ``max_entries`` (optional, > 0) bounds the number of entries; the least
recently used entry is evicted first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from freight.cache.lock import Lock
from freight.cache.stores.base import Clock, Store
from freight.errors import CacheError, ConfigurationError
from freight.manager import clock_of

if TYPE_CHECKING:
    from freight.cache.manager import CacheManager

__all__ = ["ArrayLock", "ArrayStore", "create"]

_Entry = tuple[bytes, float | None]


class ArrayStore(Store):
    """Entries in a dict guarded by one ``threading.Lock``; expiry checked lazily on read."""

    driver = "array"
    uses_clock = True
    keeps_data = True

    def __init__(
        self,
        *,
        max_entries: int | None = None,
        name: str = "",
        prefix: str = "",
        clock: Clock = time.time,
        version: int = 1,
    ) -> None:
        super().__init__(name=name, prefix=prefix, clock=clock, version=version)
        if max_entries is not None and (
            isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1
        ):
            raise ConfigurationError(
                f"array store {self.name!r}: max_entries must be a positive integer, got {max_entries!r}"
            )
        self.max_entries = max_entries
        self._data: OrderedDict[str, _Entry] = OrderedDict()
        self._locks: dict[str, tuple[str, float | None]] = {}
        self._mutex = threading.Lock()

    def relayout(self) -> None:
        """A key space is a dict of its own (keys are never prefixed: nothing else shares them)."""
        self._data = OrderedDict()

    # -- primitives -------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """The encoded value of ``key``, or None when absent or expired."""
        if self.max_entries is None:
            # no LRU order to keep: one dict read is atomic, so a hit skips the mutex (~15% of a get)
            entry = self._data.get(key)
            if entry is None:
                return None
            expires = entry[1]
            if expires is None or expires > self.clock():
                return entry[0]
            with self._mutex:  # expired: drop it unless a writer replaced it meanwhile
                if self._data.get(key) is entry:
                    del self._data[key]
            return None
        with self._mutex:
            return self._live(key)

    def put(self, key: str, value: bytes, seconds: float | None) -> bool:
        """Store ``value`` for ``seconds`` (None: forever)."""
        expires = self._expiry(seconds)  # outside the mutex
        with self._mutex:
            self._set(key, value, expires)
        return True

    def add(self, key: str, value: bytes, seconds: float | None) -> bool:
        """Store ``value`` unless ``key`` holds a live entry."""
        with self._mutex:
            if self._live(key) is not None:
                return False
            self._set(key, value, self._expiry(seconds))
            return True

    def increment(self, key: str, by: int = 1) -> int:
        """Add ``by`` to the integer under ``key``, keeping its expiry (a missing key starts at 0)."""
        with self._mutex:
            raw = self._live(key)
            expires = None if raw is None else self._data[key][1]
            current = 0 if raw is None else _as_int(raw, key, self.name)
            value = current + by
            self._set(key, str(value).encode("ascii"), expires)
            return value

    def forget(self, key: str) -> bool:
        """Remove ``key``; True when it held a live entry."""
        with self._mutex:
            live = self._live(key) is not None
            self._data.pop(key, None)
            return live

    def flush(self) -> bool:
        """Remove every entry (locks are kept)."""
        with self._mutex:
            self._data.clear()
        return True

    def touch(self, key: str, seconds: float | None) -> bool:
        """Give a live ``key`` a new expiry."""
        with self._mutex:
            raw = self._live(key)
            if raw is None:
                return False
            self._data[key] = (raw, self._expiry(seconds))
            return True

    def lock(self, name: str, seconds: float = 0, owner: str | None = None) -> Lock:
        """An in-process lock."""
        return ArrayLock(self, name, seconds, owner)

    # -- derived, overridden for speed --------------------------------------------------
    def many(self, keys: Iterable[str]) -> dict[str, bytes | None]:
        """Encoded values for ``keys`` under one acquisition of the mutex."""
        with self._mutex:
            return {key: self._live(key) for key in keys}

    def put_many(self, values: Mapping[str, bytes], seconds: float | None) -> bool:
        """Store every item with one expiry under one acquisition of the mutex."""
        with self._mutex:
            expires = self._expiry(seconds)
            for key, value in values.items():
                self._set(key, value, expires)
        return True

    def prune(self) -> int:
        """Drop expired entries; return how many."""
        with self._mutex:
            now = self.clock()
            expired = [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]
            for key in expired:
                del self._data[key]
            return len(expired)

    def describe(self) -> str:
        """``array`` with its size and bound."""
        bound = f"/{self.max_entries}" if self.max_entries else ""
        return f"array ({len(self._data)}{bound} entries)"

    # -- internals (the mutex is held) --------------------------------------------------
    def _expiry(self, seconds: float | None) -> float | None:
        return None if seconds is None else self.clock() + seconds

    def _live(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        expires = entry[1]
        if expires is not None and expires <= self.clock():
            del self._data[key]
            return None
        if self.max_entries:
            self._data.move_to_end(key)
        return entry[0]

    def _set(self, key: str, value: bytes, expires: float | None) -> None:
        data = self._data
        data[key] = (value, expires)
        if self.max_entries:
            data.move_to_end(key)
            while len(data) > self.max_entries:
                data.popitem(last=False)

    # -- lock records -------------------------------------------------------------------
    def _lock_owner(self, name: str) -> str | None:
        record = self._locks.get(name)
        if record is None:
            return None
        if record[1] is not None and record[1] <= self.clock():
            del self._locks[name]
            return None
        return record[0]


class ArrayLock(Lock):
    """A lock living in its array store; atomic under the store's mutex."""

    def __init__(self, store: ArrayStore, name: str, seconds: float = 0, owner: str | None = None) -> None:
        super().__init__(name, seconds, owner)
        self._store = store

    def acquire(self) -> bool:
        """Take the lock if nobody holds it."""
        store = self._store
        with store._mutex:
            if store._lock_owner(self.name) is not None:
                return False
            store._locks[self.name] = (self.owner, store._expiry(self.seconds or None))
            return True

    def release(self) -> bool:
        """Release the lock if this owner holds it."""
        store = self._store
        with store._mutex:
            if store._lock_owner(self.name) != self.owner:
                return False
            del store._locks[self.name]
            return True

    def force_release(self) -> None:
        """Release the lock whoever holds it."""
        with self._store._mutex:
            self._store._locks.pop(self.name, None)

    def current_owner(self) -> str | None:
        """The owner holding the lock, or None."""
        with self._store._mutex:
            return self._store._lock_owner(self.name)

    def refresh(self, seconds: float | None = None) -> bool:
        """Restart the lock's TTL (``seconds``, default its own; 0: no expiry) if this owner holds
        it."""
        store = self._store
        with store._mutex:
            if store._lock_owner(self.name) != self.owner:
                return False
            ttl = self.seconds if seconds is None else seconds
            store._locks[self.name] = (self.owner, store._expiry(ttl or None))
            return True


def _as_int(raw: bytes, key: str, store: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise CacheError(
            f"cannot increment key {key!r} in store {store!r}: its value is not an integer"
        ) from None


def create(config: dict[str, Any], manager: CacheManager) -> ArrayStore:
    """Build an array store from its configuration."""
    return ArrayStore(
        max_entries=config.get("max_entries"),
        name=config["name"],
        prefix=str(config.get("prefix") or ""),
        clock=clock_of(config, manager),
        version=config.get("version", 1),
    )
