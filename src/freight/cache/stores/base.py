"""The Store protocol every cache driver implements, with derived operations written once.

A store works on *encoded* values (bytes produced by the repository's codec) and on
*unprefixed* keys: each store applies its own ``prefix`` so that ``flush()`` can stay
inside it. TTLs arrive normalised by the repository: ``seconds`` is a positive float,
or ``None`` for "forever".

Key layout (every shared store): ``<escaped prefix>:<version>:<key>``. The escaped
prefix is printable ASCII without ``:``, ``#``, ``%``, ``{``, ``}`` or space (those and
any other character are percent-encoded as UTF-8), so the first ``:`` always ends it:
prefix ``a`` with key ``:x`` and prefix ``a:`` with key ``x`` are different entries, and
a flush of ``myapp`` never matches ``myapp:v2``. Internal key spaces of one version
(tag metadata, namespaces) are ``<escaped prefix>:<version>#<space>:<key>``, and locks
``<escaped prefix>:lock:<name>`` (no version: a lock outlives a version change).
"""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, ClassVar, Protocol

from freight.cache.tags import TagOps
from freight.errors import ConfigurationError

if TYPE_CHECKING:
    from freight.cache.lock import Lock

__all__ = ["AsyncOps", "Clock", "Store", "check_version", "escape_prefix", "key_prefix", "lock_prefix"]

Clock = Callable[[], float]
#: the key spaces freight itself uses: tag metadata, flexible/XFetch records
INTERNAL_SPACES = frozenset({"t", "f"})

#: characters kept as they are in an escaped prefix: printable ASCII but % : # { } and space
_SAFE = frozenset(chr(c) for c in range(0x21, 0x7F)) - set("%:#{}")


def escape_prefix(prefix: str) -> str:
    """``prefix`` as printable ASCII that cannot contain ``:``, ``#``, ``{`` or ``}`` (percent-encoded)."""
    if all(c in _SAFE for c in prefix):
        return prefix
    return "".join(
        c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass")) for c in prefix
    )


def check_version(version: object, store: str = "") -> int:
    """The store ``version`` setting as a non-negative int (a ConfigurationError otherwise)."""
    if isinstance(version, str) and version.isascii() and version.isdigit():
        version = int(version)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ConfigurationError(
            f"cache store {store!r}: 'version' must be a non-negative integer, got {version!r}"
        )
    return version


def key_prefix(prefix: str, version: int, space: str = "") -> str:
    """``"<escaped prefix>:<version>:"``, or ``"<escaped prefix>:<version>#<space>:"`` for a key space."""
    return f"{escape_prefix(prefix)}:{version}{'#' + space if space else ''}:"


def lock_prefix(prefix: str) -> str:
    """``"<escaped prefix>:lock:"``: where the locks of ``prefix`` live (disjoint from every version)."""
    return f"{escape_prefix(prefix)}:lock:"


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
    # Capability flags: what a caller (and the contract suite, which generates its cases
    # from them: tests/cache/cachekit.py) may rely on. They describe the store; nothing
    # in the store reads them.
    #: True when the backend is shared between processes (concurrency tests run on it)
    shared: ClassVar[bool] = False
    #: True when expiry follows the injected ``clock`` (tests can travel in time)
    uses_clock: ClassVar[bool] = False
    #: True when the store keeps what is put (False for the null store); not to be confused
    #: with ``Queue.persistent``, which says whether jobs outlive the process
    persists: ClassVar[bool] = True
    #: True when the store keeps its entries in tables that create_tables() makes (database)
    has_tables: ClassVar[bool] = False
    #: True when the values live in the store object itself (the array store): its key spaces
    #: are made once and kept (see :meth:`space`)
    keeps_data: ClassVar[bool] = False

    def __init__(
        self, *, name: str = "", prefix: str = "", clock: Clock = time.time, version: int = 1
    ) -> None:
        self.name = name or self.driver
        self.prefix = prefix
        self.clock = clock
        self.version = check_version(version, self.name)
        #: the key space inside this version ("" for user keys; see :meth:`space`)
        self.keyspace = ""
        #: ``"<escaped prefix>:<version>:"``, the start of every stored key of this store
        self.key_prefix = key_prefix(prefix, self.version)
        self._spaces: dict[str, Store] = {}

    def space(self, name: str) -> Store:
        """This store over the key space ``name`` of its version (shares connections; flushed with
        it). The internal spaces are made once; a namespace's space is made once only where its
        data lives in the store object itself (:attr:`keeps_data`), so dynamic namespace names
        never accumulate."""
        made = self._spaces.get(name)
        if made is None:
            made = copy.copy(self)  # shares the client, and this memo
            made.__dict__.pop("_tag_ops", None)
            made.keyspace = name
            made.key_prefix = key_prefix(self.prefix, self.version, name)
            made.relayout()
            if self.keeps_data or name in INTERNAL_SPACES:
                self._spaces[name] = made
        return made

    def relayout(self) -> None:
        """Recompute what depends on :attr:`key_prefix` (called on a :meth:`space` copy)."""

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

    def forget_many(self, keys: Iterable[str]) -> int:
        """Remove every key of ``keys``; how many there were (a tag flush deletes its members)."""
        return sum(1 for key in keys if self.forget(key))

    def tag_ops(self) -> TagOps:
        """How this store keeps tags (made once): the generic :class:`TagOps` on the ``t`` key
        space unless the store has something faster."""
        ops: TagOps | None = self.__dict__.get("_tag_ops")
        if ops is None:
            ops = self._tag_ops = self.make_tag_ops()
        return ops

    def make_tag_ops(self) -> TagOps:
        """Build :meth:`tag_ops` (redis overrides this with its scripts)."""
        return TagOps(self, self.space("t"))

    def prune(self) -> int:
        """Delete expired entries the backend does not expire itself; return how many."""
        return 0

    def create_tables(self) -> None:
        """Create the store's tables if missing (``cache:table``); nothing for stores without tables."""

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
