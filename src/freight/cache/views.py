"""Views on a repository: ``cache.tags(...)`` (every write tagged) and ``cache.namespace(name)``.

A tagged view writes every entry with its tags and flushes them with ``flush()``;
reads go by key alone (tags only decide when an entry dies), through the tag-checking
read of the store, so a tagged read on one redis server is one round trip. A namespace
is a tagged view over a key space of its own (``<escaped prefix>:<version>#n<name>:``)
whose single hidden tag ``bump()`` flushes: O(1) invalidation of every key in it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from freight.timeutil import Duration

if TYPE_CHECKING:
    from freight.cache.repository import Repository

__all__ = ["Namespace", "TaggedCache"]

R = TypeVar("R")


class TaggedCache:
    """The Repository API with ``tags`` on every write; ``flush()`` flushes those tags."""

    def __init__(self, repository: Repository, tags: list[str]) -> None:
        self.repository = repository
        self.tags = tags

    # -- reading (by key alone) ---------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        """See :meth:`Repository.get`."""
        return self.repository.get(key, default)

    def many(self, keys: Iterable[str], default: Any = None) -> dict[str, Any]:
        """See :meth:`Repository.many`."""
        return self.repository.many(keys, default)

    def has(self, key: str) -> bool:
        """See :meth:`Repository.has`."""
        return self.repository.has(key)

    def missing(self, key: str) -> bool:
        """See :meth:`Repository.missing`."""
        return self.repository.missing(key)

    def pull(self, key: str, default: Any = None) -> Any:
        """See :meth:`Repository.pull`."""
        return self.repository.pull(key, default)

    # -- writing (tagged) ---------------------------------------------------------------
    def put(self, key: str, value: Any, ttl: Duration | None = None) -> bool:
        """See :meth:`Repository.put`; the entry carries this view's tags."""
        return self.repository.put(key, value, ttl, tags=self.tags)

    def put_many(self, values: Mapping[str, Any], ttl: Duration | None = None) -> bool:
        """See :meth:`Repository.put_many`."""
        return self.repository.put_many(values, ttl, tags=self.tags)

    def add(self, key: str, value: Any, ttl: Duration | None = None) -> bool:
        """See :meth:`Repository.add`."""
        return self.repository.add(key, value, ttl, tags=self.tags)

    def forever(self, key: str, value: Any) -> bool:
        """See :meth:`Repository.forever`."""
        return self.repository.put(key, value, None, tags=self.tags)

    def increment(self, key: str, by: int = 1) -> int:
        """See :meth:`Repository.increment` (a flush deletes the counter)."""
        return self.repository.increment(key, by, tags=self.tags)

    def decrement(self, key: str, by: int = 1) -> int:
        """See :meth:`Repository.decrement`."""
        return self.repository.increment(key, -by, tags=self.tags)

    def remember(self, key: str, ttl: Duration | None, fn: Callable[[], R], **options: Any) -> R:
        """See :meth:`Repository.remember`."""
        return self.repository.remember(key, ttl, fn, tags=self.tags, **options)

    def remember_forever(self, key: str, fn: Callable[[], R], **options: Any) -> R:
        """See :meth:`Repository.remember_forever`."""
        return self.repository.remember(key, None, fn, tags=self.tags, **options)

    def flexible(self, key: str, ttl: tuple[Duration, Duration], fn: Callable[[], R], **options: Any) -> R:
        """See :meth:`Repository.flexible`."""
        return self.repository.flexible(key, ttl, fn, tags=self.tags, **options)

    def forget(self, key: str) -> bool:
        """See :meth:`Repository.forget`."""
        return self.repository.forget(key)

    def flush(self) -> bool:
        """Flush this view's tags: every entry written with any of them is gone."""
        self.repository.flush_tags(*self.tags)
        return True

    def __repr__(self) -> str:
        return f"<TaggedCache {self.repository.name!r} tags={self.tags!r}>"


class Namespace(TaggedCache):
    """Keys under a namespace of their own; ``bump()`` makes all of them misses at once."""

    def __init__(self, repository: Repository, name: str) -> None:
        super().__init__(repository, [f"\x00ns:{name}"])
        self.namespace = name

    def bump(self) -> None:
        """Invalidate every key of this namespace (O(1) on reads; members deleted in batches)."""
        self.flush()

    def __repr__(self) -> str:
        return f"<Namespace {self.namespace!r} of {self.repository.name!r}>"
