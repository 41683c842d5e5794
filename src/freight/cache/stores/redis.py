"""The redis cache store (redis-py): native TTLs, INCRBY counters, SET NX locks.

Keys are ``"<escaped prefix>:<version>:<key>"`` (see :mod:`~freight.cache.stores.base`);
locks live apart from values, at ``"<escaped prefix>:lock:<name>"``, so ``flush()``
leaves them alone.
Values are the codec's bytes, stored as they are: an integer is its ASCII digits, so
``increment`` is a plain ``INCRBY``. ``flush()`` walks ``SCAN MATCH`` over this
version's keys (and its internal key spaces) and ``UNLINK``s in batches; it never runs
``FLUSHDB`` and refuses to run without a prefix. On a Redis Cluster keys spread over
every master (no hash tag on values: the cache grows with the cluster); ``many`` splits
its MGET per slot and ``flush`` scans every master; every script touches one key.
Lock release and refresh are compare-and-delete / compare-and-expire Lua scripts
(``lua/*.lua``), registered once per store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from freight import redis_errors
from freight.cache.lock import Lock
from freight.cache.stores.base import Clock, Store, lock_prefix
from freight.cache.stores.redis_async import AsyncRedisOps
from freight.cache.stores.redis_tags import RedisTagOps
from freight.cache.tags import TagOps
from freight.connections import async_redis_client, redis_address, redis_client
from freight.errors import CACHE_ERRORS, CacheError, FreightError
from freight.lua import register
from freight.manager import clock_of
from freight.redis_topology import is_cluster

__all__ = ["RedisLock", "RedisStore", "create"]

#: keys UNLINKed per round trip by flush()
FLUSH_BATCH = 500
_GLOB_SPECIAL = str.maketrans({c: "\\" + c for c in "\\*?[]"})


def _ms(seconds: float) -> int:
    """Milliseconds for a positive TTL, never 0 (redis rejects a zero expiry)."""
    return max(1, round(seconds * 1000))


def _utf8(text: str) -> bytes:
    # surrogatepass: any Python string is a valid key, and the mapping stays injective
    return text.encode("utf-8", "surrogatepass")


class RedisStore(Store):
    """A cache store on a redis server, sharing it safely with other data through its prefix."""

    driver = "redis"
    shared = True

    def __init__(
        self,
        client: Any,
        *,
        name: str = "",
        prefix: str = "",
        clock: Clock = time.time,
        owns_client: bool = True,
        async_client: Callable[[], Any] | None = None,
        async_shared: bool = False,
        version: int = 1,
    ) -> None:
        super().__init__(name=name, prefix=prefix, clock=clock, version=version)
        import redis

        self.client = client
        self._owns_client = owns_client
        self._address = redis_address(client)
        self._redis_error: type[Exception] = redis.RedisError
        #: the base class of redis-py's errors (for the tag operations, see :meth:`fail`)
        self.redis_error = self._redis_error
        #: a Redis Cluster client: multi-key commands are split per hash slot
        self.cluster = is_cluster(client)
        self._lock_prefix = lock_prefix(prefix)
        self._release = register(client, "freight.cache.stores", "release_lock")
        self._refresh = register(client, "freight.cache.stores", "refresh_lock")
        self._aio = AsyncRedisOps(self, async_client, shared=async_shared) if async_client else None

    def relayout(self) -> None:
        """Key names follow :attr:`key_prefix`."""

    # -- helpers ----------------------------------------------------------------------
    def _key(self, key: str) -> bytes:
        return _utf8(self.key_prefix + key)

    def redis_key(self, key: str) -> bytes:
        """The redis key holding the cache key ``key``."""
        return self._key(key)

    def lock_key(self, name: str) -> bytes:
        """The redis key holding the lock ``name``."""
        return _utf8(self._lock_prefix + name)

    def translate_error(self, exc: Exception, action: str) -> FreightError:
        """The freight error for a redis-py exception raised while doing ``action``."""
        return self._error(exc, action)

    def aio(self) -> AsyncRedisOps | None:
        """Native ``redis.asyncio`` primitives (None for a client handed in without an
        ``async_client``)."""
        return self._aio

    def _error(self, exc: Exception, action: str) -> FreightError:
        """The freight error for a redis-py exception raised while doing ``action``."""
        return redis_errors.translate(
            exc, CACHE_ERRORS, f"redis cache store {self.name!r} at {self._address}", action, self.client
        )

    def fail(self, exc: Exception, action: str) -> FreightError:
        """The freight error for a redis-py exception raised while doing ``action``."""
        return self._error(exc, action)

    # -- primitives -------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """The bytes under ``key`` (GET)."""
        try:
            return self.client.get(_utf8(self.key_prefix + key))  # type: ignore[no-any-return]
        except self._redis_error as exc:
            raise self._error(exc, "get") from exc

    def put(self, key: str, value: bytes, seconds: float | None) -> bool:
        """SET with PX (or no expiry)."""
        try:
            self.client.set(_utf8(self.key_prefix + key), value, px=None if seconds is None else _ms(seconds))
        except self._redis_error as exc:
            raise self._error(exc, "put") from exc
        return True

    def add(self, key: str, value: bytes, seconds: float | None) -> bool:
        """SET NX with PX: atomic on the server."""
        try:
            done = self.client.set(
                self._key(key), value, nx=True, px=None if seconds is None else _ms(seconds)
            )
        except self._redis_error as exc:
            raise self._error(exc, "add") from exc
        return bool(done)

    def increment(self, key: str, by: int = 1) -> int:
        """INCRBY: atomic, a missing key starts at 0 (and never expires)."""
        try:
            return int(self.client.incrby(self._key(key), by))
        except self._redis_error as exc:
            raise self._error(exc, f"increment {key!r} (is its value an integer?)") from exc

    def forget(self, key: str) -> bool:
        """DEL."""
        try:
            return bool(self.client.delete(self._key(key)))
        except self._redis_error as exc:
            raise self._error(exc, "forget") from exc

    def touch(self, key: str, seconds: float | None) -> bool:
        """PEXPIRE, or PERSIST (with EXISTS, in one MULTI) for "forever"."""
        k = self._key(key)
        try:
            if seconds is not None:
                return bool(self.client.pexpire(k, _ms(seconds)))
            pipe = self.client.pipeline(transaction=True)
            pipe.persist(k)
            pipe.exists(k)
            return bool(pipe.execute()[1])
        except self._redis_error as exc:
            raise self._error(exc, "touch") from exc

    def flush(self) -> bool:
        """UNLINK every key of this prefix and version, internal key spaces included (SCAN in
        batches, on every master of a cluster); never FLUSHDB. Other versions, other prefixes
        and locks stay."""
        if not self.prefix:
            raise CacheError(
                f"redis cache store {self.name!r} has an empty prefix, so flush() cannot tell its keys "
                f"from other data in {self._address}; set a 'prefix' for the store (or cache.prefix)"
            )
        start = self.key_prefix[:-1].translate(_GLOB_SPECIAL)
        pattern = _utf8(start + ("[:#]*" if not self.keyspace else ":*"))
        try:
            batch: list[bytes] = []
            for found in self.client.scan_iter(match=pattern, count=1000):
                batch.append(found)
                if len(batch) >= FLUSH_BATCH:
                    self.client.unlink(*batch)
                    batch.clear()
            if batch:
                self.client.unlink(*batch)
        except self._redis_error as exc:
            raise self._error(exc, "flush") from exc
        return True

    def forget_many(self, keys: Iterable[str]) -> int:
        """UNLINK in batches of :data:`FLUSH_BATCH` (one command per slot on a cluster)."""
        names = [self._key(k) for k in keys]
        removed = 0
        try:
            for start in range(0, len(names), FLUSH_BATCH):
                batch = names[start : start + FLUSH_BATCH]
                if self.cluster:
                    removed += sum(int(self.client.unlink(name)) for name in batch)
                else:
                    removed += int(self.client.unlink(*batch))
        except self._redis_error as exc:
            raise self._error(exc, "forget many") from exc
        return removed

    def make_tag_ops(self) -> TagOps:
        """One script per tagged read, write and flush on one server; the generic way on a cluster."""
        if self.cluster:
            return super().make_tag_ops()
        meta = self.space("t")
        assert isinstance(meta, RedisStore)
        return RedisTagOps(self, meta)

    def lock(self, name: str, seconds: float = 0, owner: str | None = None) -> RedisLock:
        """A lock held in redis (SET NX PX; Lua compare-and-delete to release)."""
        return RedisLock(self, name, seconds, owner)

    # -- derived operations, one round trip each ----------------------------------------
    def many(self, keys: Iterable[str]) -> dict[str, bytes | None]:
        """MGET (one per hash slot on a cluster)."""
        names = list(keys)
        if not names:
            return {}
        try:
            wire: list[Any] = [self._key(k) for k in names]
            values = self.client.mget_nonatomic(wire) if self.cluster else self.client.mget(wire)
        except self._redis_error as exc:
            raise self._error(exc, "get many") from exc
        return dict(zip(names, values, strict=True))

    def put_many(self, values: Mapping[str, bytes], seconds: float | None) -> bool:
        """One pipelined SET per key, sent in a single round trip."""
        if not values:
            return True
        px = None if seconds is None else _ms(seconds)
        pipe = self.client.pipeline(transaction=False)
        for key, value in values.items():
            pipe.set(self._key(key), value, px=px)
        try:
            return all(pipe.execute())
        except self._redis_error as exc:
            raise self._error(exc, "put many") from exc

    def describe(self) -> str:
        """The server address, ``redis://host:port/db``."""
        return self._address

    def close(self) -> None:
        """Disconnect the pool, unless the client was handed in by the application."""
        if self._owns_client:
            self.client.close()


class RedisLock(Lock):
    """A lock on one redis key whose value is the owner token."""

    def __init__(self, store: RedisStore, name: str, seconds: float = 0, owner: str | None = None) -> None:
        super().__init__(name, seconds, owner)
        self._store = store
        self._key = store.lock_key(name)
        self._owner_b = _utf8(self.owner)

    def _ttl_ms(self, seconds: float) -> int:
        return _ms(seconds) if seconds > 0 else 0

    def acquire(self) -> bool:
        """SET NX PX: True only if nobody held the lock (its TTL ending frees it)."""
        store = self._store
        try:
            return bool(
                store.client.set(self._key, _utf8(self.owner), nx=True, px=self._ttl_ms(self.seconds) or None)
            )
        except store._redis_error as exc:
            raise store._error(exc, f"acquire lock {self.name!r}") from exc

    async def aacquire(self) -> bool:
        """:meth:`acquire` on ``redis.asyncio`` (no thread)."""
        aio = self._store.aio()
        if aio is None:
            return await super().aacquire()
        return await aio.acquire_lock(self._key, self._owner_b, self.seconds)

    async def arelease(self) -> bool:
        """:meth:`release` on ``redis.asyncio`` (no thread)."""
        aio = self._store.aio()
        if aio is None:
            return await super().arelease()
        return await aio.release_lock(self._key, self._owner_b)

    async def arefresh(self, seconds: float | None = None) -> bool:
        """:meth:`refresh` on ``redis.asyncio`` (no thread)."""
        aio = self._store.aio()
        if aio is None:
            return await super().arefresh(seconds)
        return await aio.refresh_lock(self._key, self._owner_b, self.seconds if seconds is None else seconds)

    def release(self) -> bool:
        """Compare-and-delete in Lua: only the owner's token is ever deleted."""
        store = self._store
        try:
            return bool(store._release(keys=[self._key], args=[_utf8(self.owner)]))
        except store._redis_error as exc:
            raise store._error(exc, f"release lock {self.name!r}") from exc

    def force_release(self) -> None:
        """DEL, whoever holds the lock."""
        store = self._store
        try:
            store.client.delete(self._key)
        except store._redis_error as exc:
            raise store._error(exc, f"force-release lock {self.name!r}") from exc

    def current_owner(self) -> str | None:
        """The token stored in the lock key, if any."""
        store = self._store
        try:
            value = store.client.get(self._key)
        except store._redis_error as exc:
            raise store._error(exc, f"read lock {self.name!r}") from exc
        return None if value is None else bytes(value).decode("utf-8", "surrogatepass")

    def refresh(self, seconds: float | None = None) -> bool:
        """Compare-and-expire in Lua (PERSIST for 0)."""
        store = self._store
        ttl = self._ttl_ms(self.seconds if seconds is None else seconds)
        try:
            return bool(store._refresh(keys=[self._key], args=[_utf8(self.owner), ttl]))
        except store._redis_error as exc:
            raise store._error(exc, f"refresh lock {self.name!r}") from exc


def create(config: dict[str, Any], manager: Any) -> RedisStore:
    """Build a redis store from its configuration (``url`` or ``host/port/db/password``, ``client``,
    pool options, ``retries``)."""
    owns = config.get("client") is None
    client = redis_client(config, driver="redis")
    handed = config.get("async_client")
    if handed is not None:  # one client handed in serves every loop
        async_factory: Callable[[], Any] | None = lambda: handed  # noqa: E731
    else:
        # on a cluster the a* methods run the sync client in a thread: redis.asyncio's
        # RedisCluster lost a connection mid-command under concurrent use in the contract suite
        native = owns and not is_cluster(client)
        async_factory = (lambda: async_redis_client(config)) if native else None
    if owns:
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        # redis-py's default retries a dead server for seconds; a cache should fail fast
        client.set_retry(Retry(ExponentialBackoff(cap=0.1, base=0.01), int(config.get("retries", 2))))
    return RedisStore(
        client,
        name=str(config.get("name", "")),
        prefix=str(config.get("prefix", "")),
        clock=clock_of(config, manager),
        owns_client=owns,
        async_client=async_factory,
        async_shared=handed is not None,
        version=config.get("version", 1),
    )
