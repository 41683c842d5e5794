"""Native asyncio primitives of the redis cache store, through ``redis.asyncio``.

A ``redis.asyncio`` connection belongs to the event loop that opened it, so one client
is kept per running loop (weakly: a finished loop takes its client with it). Keys,
values and errors are the sync store's own, so a value written with ``put`` reads back
with ``aget`` and the other way round. Locks use the same SET NX PX and the same Lua
compare-and-delete / compare-and-expire scripts as the sync locks.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from freight.lua import register
from freight.redis_topology import is_cluster

__all__ = ["AsyncRedisOps"]


class _RedisKeyed(Protocol):
    """What the async primitives need from the sync store they mirror."""

    def redis_key(self, key: str) -> bytes: ...
    def translate_error(self, exc: Exception, action: str) -> Exception: ...


def _px(seconds: float | None) -> int | None:
    """PX milliseconds for a positive TTL (never 0, which redis rejects), None for forever."""
    return None if seconds is None else max(1, round(seconds * 1000))


class _Bound:
    """One loop's client and its registered lock scripts."""

    __slots__ = ("client", "refresh", "release", "starting")

    def __init__(self, client: Any) -> None:
        self.client = client
        self.release = register(client, "freight.cache.stores", "release_lock")
        self.refresh = register(client, "freight.cache.stores", "refresh_lock")
        #: a cluster client maps its slots once, before concurrent commands race to do it
        self.starting: asyncio.Lock | None = asyncio.Lock() if is_cluster(client) else None

    async def start(self) -> None:
        """Map the cluster's slots (once)."""
        if self.starting is not None:
            async with self.starting:
                if self.starting is not None:
                    await self.client.initialize()
                    self.starting = None


class AsyncRedisOps:
    """The redis store's primitives as coroutines, on a client bound to the running loop."""

    def __init__(self, store: _RedisKeyed, factory: Callable[[], Any], *, shared: bool = False) -> None:
        import redis

        self._store = store
        self._factory = factory
        self._shared: _Bound | None = _Bound(factory()) if shared else None
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Bound] = (
            weakref.WeakKeyDictionary()
        )
        self._redis_error: type[Exception] = redis.RedisError

    def _bound(self) -> _Bound:
        if self._shared is not None:
            return self._shared
        loop = asyncio.get_running_loop()
        bound = self._per_loop.get(loop)
        if bound is None:
            bound = self._per_loop[loop] = _Bound(self._factory())
        return bound

    def client(self) -> Any:
        """The ``redis.asyncio`` client of the running loop."""
        return self._bound().client

    async def _ready(self) -> _Bound:
        # one branch on the hot path: only a cluster client has a start to wait for
        bound = self._bound()
        if bound.starting is not None:
            await bound.start()
        return bound

    async def get(self, key: str) -> bytes | None:
        """GET."""
        bound = self._bound()  # inlined _ready(): one coroutine less on the hottest path
        if bound.starting is not None:
            await bound.start()
        try:
            return await bound.client.get(self._store.redis_key(key))  # type: ignore[no-any-return]
        except self._redis_error as exc:
            raise self._store.translate_error(exc, "get") from exc

    async def put(self, key: str, value: bytes, seconds: float | None) -> bool:
        """SET with PX (or no expiry)."""
        bound = self._bound()  # inlined _ready(), as in get()
        if bound.starting is not None:
            await bound.start()
        try:
            await bound.client.set(self._store.redis_key(key), value, px=_px(seconds))
        except self._redis_error as exc:
            raise self._store.translate_error(exc, "put") from exc
        return True

    async def add(self, key: str, value: bytes, seconds: float | None) -> bool:
        """SET NX with PX: atomic on the server."""
        try:
            done = await (await self._ready()).client.set(
                self._store.redis_key(key), value, nx=True, px=_px(seconds)
            )
        except self._redis_error as exc:
            raise self._store.translate_error(exc, "add") from exc
        return bool(done)

    async def increment(self, key: str, by: int = 1) -> int:
        """INCRBY."""
        try:
            return int(await (await self._ready()).client.incrby(self._store.redis_key(key), by))
        except self._redis_error as exc:
            raise self._store.translate_error(exc, f"increment {key!r} (is its value an integer?)") from exc

    async def forget(self, key: str) -> bool:
        """DEL."""
        try:
            return bool(await (await self._ready()).client.delete(self._store.redis_key(key)))
        except self._redis_error as exc:
            raise self._store.translate_error(exc, "forget") from exc

    async def many(self, keys: list[str]) -> dict[str, bytes | None]:
        """MGET."""
        if not keys:
            return {}
        try:
            client = (await self._ready()).client
            wire = [self._store.redis_key(k) for k in keys]
            # a cluster splits MGET per hash slot
            values = await (client.mget_nonatomic(wire) if is_cluster(client) else client.mget(wire))
        except self._redis_error as exc:
            raise self._store.translate_error(exc, "get many") from exc
        return dict(zip(keys, values, strict=True))

    async def put_many(self, values: Mapping[str, bytes], seconds: float | None) -> bool:
        """One pipelined SET per key, in a single round trip."""
        if not values:
            return True
        px = _px(seconds)
        try:
            async with (await self._ready()).client.pipeline(transaction=False) as pipe:
                for key, value in values.items():
                    pipe.set(self._store.redis_key(key), value, px=px)
                return all(await pipe.execute())
        except self._redis_error as exc:
            raise self._store.translate_error(exc, "put many") from exc

    # -- locks ----------------------------------------------------------------------------
    async def acquire_lock(self, key: bytes, owner: bytes, seconds: float) -> bool:
        """SET NX PX on the lock key (no expiry for 0 seconds)."""
        try:
            px = _px(seconds) if seconds > 0 else None
            return bool(await (await self._ready()).client.set(key, owner, nx=True, px=px))
        except self._redis_error as exc:
            raise self._store.translate_error(exc, "acquire a lock") from exc

    async def release_lock(self, key: bytes, owner: bytes) -> bool:
        """The compare-and-delete script."""
        try:
            return bool(await (await self._ready()).release(keys=[key], args=[owner]))
        except self._redis_error as exc:
            raise self._store.translate_error(exc, "release a lock") from exc

    async def refresh_lock(self, key: bytes, owner: bytes, seconds: float) -> bool:
        """The compare-and-expire script (PERSIST for 0 seconds)."""
        ttl = (_px(seconds) or 0) if seconds > 0 else 0
        try:
            return bool(await (await self._ready()).refresh(keys=[key], args=[owner, ttl]))
        except self._redis_error as exc:
            raise self._store.translate_error(exc, "refresh a lock") from exc

    async def aclose(self) -> None:
        """Close the running loop's client (the next call opens a new one)."""
        if self._shared is not None:
            return
        bound = self._per_loop.pop(asyncio.get_running_loop(), None)
        if bound is not None:
            await bound.client.aclose()
