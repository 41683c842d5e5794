"""The asyncio half of the Repository: ``aget``, ``aput``, ``aremember`` and the rest.

:class:`~freight.cache.repository.Repository` inherits these methods. On a store with
native async primitives (:meth:`Store.aio`, redis through ``redis.asyncio``) the hot
operations (``aget``, ``aput``, ``aadd``, ``amany``, ``aput_many``, ``aincrement``,
``aforget``) are coroutines end to end, with the same keys, codec, counters and events
as the sync methods. Everywhere else, and for the composite operations, the sync
method runs in a worker thread (``asyncio.to_thread``), so the event loop never waits
on a socket or a file. ``aremember``/``aflexible`` accept a sync or an async builder:
an async builder runs on the caller's loop while the sync method (single-flight, tags)
waits for it in its thread.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from freight.errors import InvalidKeyError, SerializationError
from freight.timeutil import Duration

if TYPE_CHECKING:
    from freight.cache.lock import Lock
    from freight.cache.stores.base import AsyncOps, Store
    from freight.serialization import Codec

__all__ = ["AsyncMethods", "Builder"]

R = TypeVar("R")

#: what ``aremember``/``aflexible`` accept: a function returning the value or an awaitable of it
Builder = Callable[[], "R | Awaitable[R]"]


class AsyncMethods:
    """Coroutine versions of the Repository API (mixed into Repository)."""

    store: Store
    codec: Codec

    # The sync API these methods fall back to, provided by Repository.
    get: Callable[..., Any]
    put: Callable[..., bool]
    add: Callable[..., bool]
    many: Callable[..., dict[str, Any]]
    put_many: Callable[..., bool]
    increment: Callable[..., int]
    forget: Callable[..., bool]
    has: Callable[..., bool]
    pull: Callable[..., Any]
    touch: Callable[..., bool]
    flush: Callable[..., bool]
    remember: Callable[..., Any]
    _count_read: Callable[[str, Any], None]
    _undecodable: Callable[[str, bytes, SerializationError], Any]
    _seconds: Callable[[Duration], float]
    _encode_error: Callable[[str, SerializationError], SerializationError]
    _writes: int
    _absent: ClassVar[Any]

    # -- the hot operations: native where the store allows -------------------------------
    async def aget(self, key: str, default: Any = None) -> Any:
        """:meth:`get` as a coroutine."""
        ops = self.store.aio()
        if ops is None:
            return await asyncio.to_thread(self.get, key, default)
        if not isinstance(key, str):
            raise _bad_key(key)
        raw = await ops.get(key)
        value = self._absent if raw is None else await self._adecode(ops, key, raw)
        self._count_read(key, value)
        if value is self._absent:
            return default() if callable(default) else default
        return value

    async def amany(self, keys: Iterable[str], default: Any = None) -> dict[str, Any]:
        """:meth:`many` as a coroutine (one MGET on redis)."""
        ops = self.store.aio()
        keys = list(keys)
        if ops is None:
            return await asyncio.to_thread(self.many, keys, default)
        for key in keys:
            if not isinstance(key, str):
                raise _bad_key(key)
        result: dict[str, Any] = {}
        absent = self._absent
        for key, raw in (await ops.many(keys)).items():
            value = absent if raw is None else await self._adecode(ops, key, raw)
            result[key] = default if value is absent else value
            self._count_read(key, value)
        return result

    async def aput(self, key: str, value: Any, ttl: Duration | None = None, **options: Any) -> bool:
        """:meth:`put` as a coroutine (``tags=`` and other options as :meth:`put` takes)."""
        ops = self.store.aio()
        if ops is None or options or self._observed():
            return await asyncio.to_thread(partial(self.put, key, value, ttl, **options))
        if not isinstance(key, str):
            raise _bad_key(key)
        seconds = None if ttl is None else self._seconds(ttl)
        if seconds is not None and seconds <= 0:
            await ops.forget(key)
            return True
        ok = await ops.put(key, self._encode(key, value), seconds)
        self._writes += 1
        return ok

    async def aadd(self, key: str, value: Any, ttl: Duration | None = None, **options: Any) -> bool:
        """:meth:`add` as a coroutine (SET NX on redis)."""
        ops = self.store.aio()
        if ops is None or options or self._observed():
            return await asyncio.to_thread(partial(self.add, key, value, ttl, **options))
        if not isinstance(key, str):
            raise _bad_key(key)
        seconds = None if ttl is None else self._seconds(ttl)
        if seconds is not None and seconds <= 0:
            return False
        added = await ops.add(key, self._encode(key, value), seconds)
        if added:
            self._writes += 1
        return added

    async def aput_many(self, values: Mapping[str, Any], ttl: Duration | None = None, **options: Any) -> bool:
        """:meth:`put_many` as a coroutine (one pipelined round trip on redis)."""
        ops = self.store.aio()
        if ops is None or options or self._observed():
            return await asyncio.to_thread(partial(self.put_many, values, ttl, **options))
        encoded = {}
        for key, value in values.items():
            if not isinstance(key, str):
                raise _bad_key(key)
            encoded[key] = self._encode(key, value)
        seconds = None if ttl is None else self._seconds(ttl)
        if seconds is not None and seconds <= 0:
            for key in encoded:
                await ops.forget(key)
            return True
        ok = await ops.put_many(encoded, seconds)
        self._writes += len(encoded)
        return ok

    async def aincrement(self, key: str, by: int = 1, **options: Any) -> int:
        """:meth:`increment` as a coroutine (INCRBY on redis)."""
        ops = self.store.aio()
        if ops is None or options or self._observed():
            return await asyncio.to_thread(partial(self.increment, key, by, **options))
        if not isinstance(key, str):
            raise _bad_key(key)
        if isinstance(by, bool) or not isinstance(by, int):
            raise TypeError(f"increment step must be an int, not {type(by).__name__}")
        value = await ops.increment(key, by)
        self._writes += 1
        return value

    async def adecrement(self, key: str, by: int = 1) -> int:
        """:meth:`decrement` as a coroutine."""
        if isinstance(by, bool) or not isinstance(by, int):
            raise TypeError(f"decrement step must be an int, not {type(by).__name__}")
        return await self.aincrement(key, -by)

    async def aforget(self, key: str) -> bool:
        """:meth:`forget` as a coroutine."""
        ops = self.store.aio()
        if ops is None or self._observed():
            return await asyncio.to_thread(self.forget, key)
        if not isinstance(key, str):
            raise _bad_key(key)
        return await ops.forget(key)

    # -- composite operations: the sync method in a thread ---------------------------------
    async def ahas(self, key: str) -> bool:
        """:meth:`has` as a coroutine."""
        return await self.aget(key, self._absent) is not self._absent

    async def apull(self, key: str, default: Any = None) -> Any:
        """:meth:`pull` as a coroutine."""
        return await asyncio.to_thread(self.pull, key, default)

    async def aforever(self, key: str, value: Any, **options: Any) -> bool:
        """:meth:`forever` as a coroutine."""
        return await self.aput(key, value, None, **options)

    async def atouch(self, key: str, ttl: Duration | None) -> bool:
        """:meth:`touch` as a coroutine."""
        return await asyncio.to_thread(self.touch, key, ttl)

    async def aflush(self) -> bool:
        """:meth:`flush` as a coroutine."""
        return await asyncio.to_thread(self.flush)

    async def aremember(self, key: str, ttl: Duration | None, fn: Builder[R], **options: Any) -> R:
        """:meth:`remember` as a coroutine; ``fn`` may be sync or async. A hit is served natively
        where the store allows; a miss goes through :meth:`remember` (and its options)."""
        if self.store.aio() is not None and not options:
            value = await self.aget(key, self._absent)
            if value is not self._absent:
                return value  # type: ignore[no-any-return]
        builder = _on_loop(fn, asyncio.get_running_loop())
        return await asyncio.to_thread(self.remember, key, ttl, builder, **options)

    async def aremember_forever(self, key: str, fn: Builder[R], **options: Any) -> R:
        """:meth:`remember_forever` as a coroutine."""
        return await self.aremember(key, None, fn, **options)

    async def aflexible(self, key: str, ttl: tuple[Duration, Duration], fn: Builder[R], **options: Any) -> R:
        """``flexible`` (stale-while-revalidate) as a coroutine; ``fn`` may be sync or async."""
        flexible = getattr(self, "flexible", None)
        if flexible is None:
            raise NotImplementedError("this version of freight's cache has no flexible(); update freight")
        builder = _on_loop(fn, asyncio.get_running_loop())
        return await asyncio.to_thread(flexible, key, ttl, builder, **options)

    def alock(self, name: str, seconds: float = 0, owner: str | None = None) -> Lock:
        """The same lock as :meth:`lock`; use ``async with`` or ``await lock.ablock(wait)``."""
        return self.store.lock(name, seconds, owner)

    async def aclose(self) -> None:
        """Close the running loop's native async connection, if the store opened one."""
        ops = self.store.aio()
        closer = getattr(ops, "aclose", None)
        if closer is not None:
            await closer()

    # -- internals ------------------------------------------------------------------------
    def _observed(self) -> bool:
        """True when listeners want write events: the sync method (which emits them) runs."""
        return bool(getattr(self, "_listeners", None))

    def _encode(self, key: str, value: Any) -> bytes:
        try:
            return self.codec.dumps(value)
        except SerializationError as exc:
            raise self._encode_error(key, exc) from exc

    async def _adecode(self, ops: AsyncOps, key: str, raw: bytes) -> Any:
        try:
            return self.codec.loads(raw)
        except SerializationError as exc:
            # a tagged entry (its tags are checked) or an unreadable value (discarded): the
            # repository's own rules, in a thread since they may go back to the store
            return await asyncio.to_thread(self._undecodable, key, raw, exc)


def _on_loop(fn: Builder[R], loop: asyncio.AbstractEventLoop) -> Callable[[], R]:
    """A sync callable for a worker thread: an async ``fn`` is awaited on ``loop``."""

    def build() -> R:
        result = fn()
        if inspect.isawaitable(result):
            awaited: R = asyncio.run_coroutine_threadsafe(_await(result), loop).result()
            return awaited
        return result

    return build


async def _await(awaitable: Awaitable[R]) -> R:
    return await awaitable


def _bad_key(key: object) -> InvalidKeyError:
    return InvalidKeyError(f"cache keys must be strings, got {type(key).__name__}: {key!r:.80}")
