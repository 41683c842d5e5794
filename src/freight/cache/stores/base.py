"""The Store protocol every cache driver implements, with derived operations written once.

A store works on *encoded* values (bytes produced by the repository's codec) and on
*unprefixed* keys: each store applies its own ``prefix`` so that ``flush()`` can stay
inside it. TTLs arrive normalised by the repository: ``seconds`` is a positive float,
or ``None`` for "forever".
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from freight.cache.lock import Lock

__all__ = ["AsyncOps", "Clock", "Store"]

Clock = Callable[[], float]


class AsyncOps(Protocol):
    """Native asyncio primitives a store may offer (see :meth:`Store.aio`); same keys and bytes."""

    async def get(self, key: str) -> bytes | None: ...
    async def put(self, key: str, value: bytes, seconds: float | None) -> bool: ...
    async def add(self, key: str, value: bytes, seconds: float | None) -> bool: ...
    async def increment(self, key: str, by: int = 1) -> int: ...
    async def forget(self, key: str) -> bool: ...
    async def many(self, keys: list[str]) -> dict[str, bytes | None]: ...
    async def put_many(self, values: Mapping[str, bytes], seconds: float | None) -> bool: ...


class Store(ABC):
    """Primitives of a cache backend; override the derived ones only for speed."""

    #: the driver name used in configuration
    driver: ClassVar[str] = "abstract"
    #: True when the backend is shared between processes (concurrency tests run on it)
    shared: ClassVar[bool] = False
    #: True when expiry follows the injected ``clock`` (tests can travel in time)
    uses_clock: ClassVar[bool] = False
    #: True when the store actually keeps values (False for the null store)
    persists: ClassVar[bool] = True

    def __init__(self, *, name: str = "", prefix: str = "", clock: Clock = time.time) -> None:
        self.name = name or self.driver
        self.prefix = prefix
        self.clock = clock

    # -- primitives -----------------------------------------------------------------
    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """The encoded value stored under ``key``, or None on a miss."""

    @abstractmethod
    def put(self, key: str, value: bytes, seconds: float | None) -> bool:
        """Store ``value`` for ``seconds`` (None: forever)."""

    @abstractmethod
    def add(self, key: str, value: bytes, seconds: float | None) -> bool:
        """Store ``value`` only if ``key`` is absent (or expired), atomically; True if stored."""

    @abstractmethod
    def increment(self, key: str, by: int = 1) -> int:
        """Atomically add ``by`` to the integer under ``key`` (a missing key starts at 0)."""

    @abstractmethod
    def forget(self, key: str) -> bool:
        """Remove ``key``; True if it existed."""

    @abstractmethod
    def flush(self) -> bool:
        """Remove every entry of this store (its prefix only where the backend allows)."""

    @abstractmethod
    def touch(self, key: str, seconds: float | None) -> bool:
        """Give an existing ``key`` a new TTL; False when it is missing."""

    @abstractmethod
    def lock(self, name: str, seconds: float = 0, owner: str | None = None) -> Lock:
        """An atomic lock named ``name`` held for ``seconds`` (0: until released)."""

    # -- derived operations -----------------------------------------------------------
    def many(self, keys: Iterable[str]) -> dict[str, bytes | None]:
        """Encoded values for ``keys`` (None for misses)."""
        return {key: self.get(key) for key in keys}

    def put_many(self, values: Mapping[str, bytes], seconds: float | None) -> bool:
        """Store every item of ``values`` with one TTL."""
        ok = True
        for key, value in values.items():
            ok = self.put(key, value, seconds) and ok
        return ok

    def prune(self) -> int:
        """Delete expired entries the backend does not expire itself; return how many."""
        return 0

    def aio(self) -> AsyncOps | None:
        """Native asyncio primitives, or None: the repository's ``a*`` methods then run the sync
        ones in a worker thread."""
        return None

    def describe(self) -> str:
        """A short description for error messages, such as the server address."""
        return self.driver

    def close(self) -> None:
        """Release connections and file handles."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.describe()}>"
