"""The round 2 parts of the Repository API: tags, namespaces, ``flexible`` and their plumbing.

Mixed into :class:`~freight.cache.repository.Repository` (as the ``a*`` methods are),
so the hot paths (``get``, ``put``, ``remember`` on a hit) stay in that module and pay
nothing for these features until they are used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from freight.cache.events import CacheEvent, TagsFlushed
from freight.cache.flight import DEFAULT_LOCK_WAIT, FlightHooks, Flights, queue_refresh
from freight.cache.stores.base import Clock, Store, escape_prefix
from freight.cache.tags import TagOps, check_tags
from freight.cache.views import Namespace, TaggedCache
from freight.errors import InvalidKeyError, SerializationError
from freight.serialization import Codec
from freight.timeutil import Duration

if TYPE_CHECKING:
    from freight.cache.events import Listener
    from freight.cache.repository import Repository

__all__ = ["FeatureMethods", "Tags"]

R = TypeVar("R")
#: the tags of a write: None (untagged), one tag, or several
Tags = Iterable[str] | None


class FeatureMethods:
    """Tags, namespaces and ``flexible`` (mixed into Repository)."""

    store: Store
    codec: Codec
    name: str
    extra_stats: dict[str, int]
    # what these methods use of Repository
    _clock: Clock
    _listeners: list[Listener]
    _get: Callable[[str], bytes | None]
    _loads: Callable[[bytes], Any]
    _tag_ops: TagOps | None
    _flights: Flights | None
    _seconds: Callable[[Duration], float]
    _emit: Callable[[CacheEvent], None]
    _undecodable: Callable[..., Any]
    _absent: ClassVar[Any]

    def flexible(
        self,
        key: str,
        ttl: tuple[Duration, Duration],
        fn: Callable[[], R],
        *,
        tags: Tags = None,
        defer: str = "thread",
        lock_wait: float = DEFAULT_LOCK_WAIT,
    ) -> R:
        """Stale-while-revalidate: fresh for ``ttl[0]`` seconds, then served stale until ``ttl[1]``
        while one background refresh (``defer="thread"`` or ``"queue"``) recomputes it; past
        ``ttl[1]`` computed as :meth:`remember` does."""
        if not isinstance(key, str):
            raise _bad_key(key)
        if defer not in ("thread", "queue"):
            raise ValueError(f"flexible(defer=...) must be 'thread' or 'queue', not {defer!r}")
        fresh, stale = (self._seconds(t) for t in ttl)
        if not 0 <= fresh <= stale or stale <= 0:
            raise ValueError(f"flexible ttl must be (fresh, stale) with 0 <= fresh <= stale, got {ttl!r}")
        return self._flights_of().flexible(key, fresh, stale, fn, tags, defer, lock_wait)  # type: ignore[no-any-return]

    def refresh(
        self, key: str, ttl: tuple[Duration, Duration], fn: Callable[[], Any], *, tags: Tags = None
    ) -> None:
        """Recompute the ``flexible`` value ``key`` now, unless it is fresh (a queued refresh runs
        this)."""
        fresh, stale = (self._seconds(t) for t in ttl)
        self._flights_of().refresh(key, fresh, stale, fn, tags)

    # -- tags and namespaces -------------------------------------------------------------
    def tags(self, *names: str) -> TaggedCache:
        """A view writing every entry with ``names`` as tags; its ``flush()`` flushes them."""
        self._tagging()  # reads check tags in the same round trip from now on, where the store can
        return TaggedCache(self._this(), self._tag_list(names))

    def flush_tags(self, *names: str) -> int:
        """Make every entry tagged with any of ``names`` a miss at once, then delete them for real
        (in batches); the number of member keys deleted."""
        tags = self._tag_list(names)
        deleted = self._tagging().flush(tags)
        self._note("tag_flushes", lambda: TagsFlushed(self.name, tuple(tags), deleted), len(tags))
        return deleted

    def namespace(self, name: str) -> Namespace:
        """Keys in a namespace of their own; ``bump()`` invalidates all of them in O(1)."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"a namespace name must be a non-empty string, got {name!r:.80}")
        space = self.store.space("n" + escape_prefix(name))
        make: Any = type(self)  # a Repository of the same class, over the namespace's key space
        inner = make(space, self.codec, clock=self._clock, listeners=self._listeners)
        inner._tagging()
        return Namespace(inner, name)

    def _this(self) -> Repository:
        return cast("Repository", self)

    # -- hooks of the stampede module -----------------------------------------------------
    def _peek(self, key: str, default: Any = None) -> Any:
        """The value under ``key`` or ``default``, without counting a hit or miss."""
        raw = self._get(key)
        if raw is None:
            return default
        try:
            return self._loads(raw)
        except SerializationError as exc:
            value = self._undecodable(key, raw, exc)
            return default if value is self._absent else value

    def _note(self, stat: str, event: Callable[[], CacheEvent], count: int = 1) -> None:
        """Count ``stat`` and, when anyone listens, emit ``event()``."""
        self.extra_stats[stat] += count
        if self._listeners:
            self._emit(event())

    def _seconds_of(self, ttl: Duration | None) -> float | None:
        return None if ttl is None else self._seconds(ttl)

    def _defer_refresh(self, key: str, fresh: float, stale: float, fn: Callable[[], Any], tags: Tags) -> None:
        """Queue a ``flexible`` refresh as a job (``defer="queue"``)."""
        tag_list = None if tags is None else self._tag_list(tags)
        queue_refresh(self._this(), key, fresh, stale, fn, tag_list)

    def _flights_of(self) -> Flights:
        flights = self._flights
        if flights is None:
            hooks = FlightHooks(self._peek, self._note, self._clock, self._seconds_of, self._defer_refresh)
            flights = self._flights = Flights(self._this(), hooks)
        return flights

    def _tagging(self) -> TagOps:
        """The store's tag operations; from now on this repository reads with their checked get
        (one round trip for a tagged entry on redis)."""
        ops = self._tag_ops
        if ops is None:
            ops = self._tag_ops = self.store.tag_ops()
            self._get = ops.get
        return ops

    def _tag_list(self, tags: Iterable[str]) -> list[str]:
        if isinstance(tags, str):
            tags = [tags]
        return check_tags(tags)


def _bad_key(key: object) -> InvalidKeyError:
    return InvalidKeyError(f"cache keys must be strings, got {type(key).__name__}: {key!r:.80}")
