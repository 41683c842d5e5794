"""Cache tags on one redis server: a tagged read or write is one round trip (a Lua script).

Metadata lives in the store's ``t`` key space: ``v:<tag>`` (the version token) and
``z:<tag>`` (a sorted set of the members' redis keys scored by their expiry in ms).
A write (``tag_put.lua``) reads or creates each version, writes the envelope, adds the
key to each member set (dropping members that expired) and raises the TTLs of the
version and the set to cover the new member, never lowering them. A read
(``tag_get.lua``) returns the value only if every recorded version still matches. A
flush (``tag_flush.lua``) sets a fresh version and moves the member set aside;
``tag_members.lua`` then ``UNLINK``s its members, :data:`~freight.cache.tags.FLUSH_BATCH`
per round trip. The scripts name tag keys the envelope carries, which only one server
allows: on a Redis Cluster the store uses the generic :class:`~freight.cache.tags.TagOps`.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

from freight.cache.tags import FLUSH_BATCH, UNKNOWN_LIFETIME, TagOps, token

if TYPE_CHECKING:
    from freight.cache.stores.redis import RedisStore

__all__ = ["RedisTagOps"]


def _script(name: str) -> str:
    return resources.files("freight.cache.stores").joinpath("lua", name).read_text(encoding="utf-8")


def _ms(seconds: float | None) -> int:
    return 0 if seconds is None else max(1, round(seconds * 1000))


class RedisTagOps(TagOps):
    """:class:`TagOps` with one script per tagged read, write and flush."""

    def __init__(self, store: RedisStore, meta: RedisStore) -> None:
        super().__init__(store, meta)
        client = store.client
        self._redis = store
        self._meta_kp = meta.key_prefix
        self._get_script = client.register_script(_script("tag_get.lua"))
        self._put_script = client.register_script(_script("tag_put.lua"))
        self._flush_script = client.register_script(_script("tag_flush.lua"))
        self._members_script = client.register_script(_script("tag_members.lua"))
        self._vp = self._meta_kp + "v:"
        self.get = self._checked_get

    def _k(self, name: str) -> bytes:
        return (self._meta_kp + name).encode("utf-8", "surrogatepass")

    def _checked_get(self, key: str) -> bytes | None:
        """GET and the tag check in one script call."""
        store = self._redis
        try:
            raw: bytes | None = self._get_script(keys=[store.redis_key(key)], args=[self._vp.encode()])
            return raw
        except store.redis_error as exc:
            raise store.fail(exc, "get") from exc

    def _write(
        self, key: str, value: bytes, seconds: float | None, tags: list[str], nx: bool, client: Any = None
    ) -> Any:
        keys: list[bytes] = [self._redis.redis_key(key)]
        for tag in tags:
            keys += [self._k(f"v:{tag}"), self._k(f"z:{tag}")]
        now = round(self._redis.clock() * 1000)
        args: list[Any] = [value, _ms(seconds), now, b"1" if nx else b"0", token()]
        args += [tag.encode("utf-8", "surrogatepass") for tag in tags]
        return self._put_script(keys=keys, args=args, client=client)

    def put(self, key: str, value: bytes, seconds: float | None, tags: list[str]) -> bool:
        """One script: versions, envelope, members, TTLs."""
        store = self._redis
        try:
            return bool(self._write(key, value, seconds, tags, nx=False))
        except store.redis_error as exc:
            raise store.fail(exc, "put") from exc

    def add(self, key: str, value: bytes, seconds: float | None, tags: list[str]) -> bool:
        """One script with SET NX (a stale tagged entry in the way is removed and tried again)."""
        store = self._redis
        try:
            if self._write(key, value, seconds, tags, nx=True):
                return True
            if self._checked_get(key) is None:  # stale under a flushed tag (or just expired)
                store.forget(key)
                return bool(self._write(key, value, seconds, tags, nx=True))
            return False
        except store.redis_error as exc:
            raise store.fail(exc, "add") from exc

    def put_many(self, values: Mapping[str, bytes], seconds: float | None, tags: list[str]) -> bool:
        """One script call per key, pipelined into one round trip."""
        store = self._redis
        pipe = store.client.pipeline(transaction=False)
        for key, value in values.items():
            self._write(key, value, seconds, tags, nx=False, client=pipe)
        try:
            return all(pipe.execute())
        except store.redis_error as exc:
            raise store.fail(exc, "put many") from exc

    def register(self, key: str, seconds: float | None, tags: list[str]) -> None:
        """Add ``key`` to the member sets of ``tags`` (counters are deleted by a flush)."""
        store = self._redis
        score = "+inf" if seconds is None else (store.clock() + seconds) * 1000
        pipe = store.client.pipeline(transaction=False)
        for tag in tags:
            pipe.zadd(self._k(f"z:{tag}"), {store.redis_key(key): score})
            if seconds is None:
                pipe.persist(self._k(f"z:{tag}"))
            else:  # a fresh set gets the TTL (NX), an existing one only a longer one (GT)
                pipe.pexpire(self._k(f"z:{tag}"), _ms(seconds), nx=True)
                pipe.pexpire(self._k(f"z:{tag}"), _ms(seconds), gt=True)
        try:
            pipe.execute()
        except store.redis_error as exc:
            raise store.fail(exc, "register tags") from exc

    def flush(self, tags: list[str]) -> int:
        """A fresh version per tag (one script), then its members UNLINKed in batches."""
        store, deleted = self._redis, 0
        try:
            for tag in tags:
                fresh = token()
                aside = self._k(f"x:{tag}:{fresh.decode()}")
                keys = [self._k(f"v:{tag}"), self._k(f"z:{tag}"), aside]
                if not self._flush_script(keys=keys, args=[fresh, _ms(UNKNOWN_LIFETIME)]):
                    continue
                while taken := int(self._members_script(keys=[aside], args=[FLUSH_BATCH])):
                    deleted += taken
        except store.redis_error as exc:
            raise store.fail(exc, "flush tags") from exc
        return deleted
