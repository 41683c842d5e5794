"""What only the redis store does: raw integers, prefix-scoped flush, Lua lock scripts, errors.

Everything here lives under the test's ``unique`` prefix on the shared server and is
removed afterwards; nothing ever runs FLUSHDB.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("redis")

import redis  # noqa: E402

from freight import lua  # noqa: E402
from freight.cache.manager import CacheManager  # noqa: E402
from freight.cache.stores import redis as redis_module  # noqa: E402
from freight.cache.stores.redis import RedisStore, create  # noqa: E402
from freight.errors import CacheConnectionError, CacheError  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def raw(redis_url: str, unique: str) -> Iterator[redis.Redis]:
    """A plain client; deletes every key of this test (``unique*``) at the end."""
    client = redis.Redis.from_url(redis_url)
    yield client
    leftovers = list(client.scan_iter(match=f"{unique}*", count=1000))
    if leftovers:
        client.delete(*leftovers)
    client.close()


@pytest.fixture
def store(redis_url: str, unique: str, raw: redis.Redis) -> Iterator[RedisStore]:
    made = create({"name": "r", "url": redis_url, "prefix": unique}, None)
    yield made
    made.close()


def test_integers_are_stored_raw_so_increment_is_incrby(
    store: RedisStore, raw: redis.Redis, unique: str
) -> None:
    store.put("n", b"41", 60)
    assert raw.get(f"{unique}:1:n") == b"41"
    assert store.increment("n") == 42
    assert raw.get(f"{unique}:1:n") == b"42"
    assert 0 < raw.pttl(f"{unique}:1:n") <= 60_000, "INCRBY keeps the TTL"
    assert store.increment("fresh", -3) == -3
    assert raw.get(f"{unique}:1:fresh") == b"-3" and raw.ttl(f"{unique}:1:fresh") == -1
    assert raw.incrby(f"{unique}:1:n", 8) == 50, "another redis client sees a plain integer"
    assert store.get("n") == b"50"


def test_ttls_are_milliseconds_and_add_is_set_nx(store: RedisStore, raw: redis.Redis, unique: str) -> None:
    assert store.add("a", b"1", 1.5)
    assert 1000 < raw.pttl(f"{unique}:1:a") <= 1500
    assert not store.add("a", b"2", 10)
    assert raw.get(f"{unique}:1:a") == b"1"
    store.put("tiny", b"x", 0.0001)
    assert raw.pttl(f"{unique}:1:tiny") in (-2, 0, 1), "a TTL under 1 ms becomes 1 ms, never 0"


def test_touch_uses_pexpire_and_persist(store: RedisStore, raw: redis.Redis, unique: str) -> None:
    store.put("k", b"v", None)
    assert store.touch("k", None) is True, "a key without a TTL exists: touching it forever is True"
    assert store.touch("k", 30)
    assert 29_000 < raw.pttl(f"{unique}:1:k") <= 30_000
    assert store.touch("k", None) and raw.ttl(f"{unique}:1:k") == -1
    assert store.touch("missing", None) is False and store.touch("missing", 5) is False


def test_many_is_one_mget_and_put_many_one_pipeline(
    store: RedisStore, raw: redis.Redis, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_pipeline, real_mget = store.client.pipeline, store.client.mget

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        calls.append("pipeline")
        return real_pipeline(*args, **kwargs)

    def mget(*args: Any, **kwargs: Any) -> Any:
        calls.append("mget")
        return real_mget(*args, **kwargs)

    monkeypatch.setattr(store.client, "pipeline", pipeline)
    monkeypatch.setattr(store.client, "mget", mget)
    assert store.put_many({"a": b"1", "b": b"2", "c": b"3"}, 20)
    assert store.many(["a", "b", "zz", "c"]) == {"a": b"1", "b": b"2", "zz": None, "c": b"3"}
    assert calls == ["pipeline", "mget"]
    assert 19_000 < raw.pttl(f"{unique}:1:b") <= 20_000
    assert store.many([]) == {} and store.put_many({}, None)


def test_flush_removes_only_this_prefix(redis_url: str, raw: redis.Redis, unique: str) -> None:
    # glob characters in the prefix must match literally, not as a pattern
    tricky = create({"name": "t", "url": redis_url, "prefix": f"{unique}[a]*?"}, None)
    neighbours = {
        f"{unique}a:k": b"no brackets",
        f"{unique}[a]*?x:k": b"longer prefix",
        f"{unique}[a]*?": b"the bare prefix",
        f"{unique}-other:k": b"another store",
    }
    raw.mset(neighbours)
    tricky.put_many({f"k{i}": b"x" for i in range(30)}, None)
    lock = tricky.lock("kept", 60)
    assert lock.acquire()
    assert tricky.flush()
    assert tricky.many(["k0", "k29"]) == {"k0": None, "k29": None}
    assert raw.mget(list(neighbours)) == list(neighbours.values())
    assert lock.current_owner() == lock.owner, "locks survive a flush"
    assert lock.release()


def test_flush_unlinks_in_batches(store: RedisStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_module, "FLUSH_BATCH", 7)
    unlinked: list[int] = []
    real_unlink = store.client.unlink
    monkeypatch.setattr(
        store.client, "unlink", lambda *keys: unlinked.append(len(keys)) or real_unlink(*keys)
    )
    store.put_many({f"k{i}": b"x" for i in range(50)}, None)
    assert store.flush()
    assert sum(unlinked) == 50 and max(unlinked) == 7
    assert all(v is None for v in store.many([f"k{i}" for i in range(50)]).values())


def test_flush_refuses_an_empty_prefix(redis_url: str, raw: redis.Redis, unique: str) -> None:
    bare = create({"name": "bare", "url": redis_url, "prefix": ""}, None)
    bare.put(f"{unique}-raw", b"kept", None)
    assert raw.get(f":1:{unique}-raw") == b"kept", "an empty prefix still has a version"
    with pytest.raises(CacheError, match="empty prefix"):
        bare.flush()
    assert raw.get(f":1:{unique}-raw") == b"kept"


def test_lock_release_is_a_lua_compare_and_delete(store: RedisStore, raw: redis.Redis, unique: str) -> None:
    key = f"{unique}:lock:job"
    first = store.lock("job", 10)
    assert first.acquire()
    assert raw.get(key) == first.owner.encode() and 9_000 < raw.pttl(key) <= 10_000
    assert store.lock("job", 10).release() is False
    # the first owner's TTL ran out and somebody else took the lock: release must not delete it
    raw.set(key, b"someone-else", px=10_000)
    assert first.release() is False
    assert raw.get(key) == b"someone-else"
    assert store.lock("job", 10, owner="someone-else").release() is True
    assert raw.get(key) is None


def test_lock_refresh_is_a_lua_compare_and_expire(store: RedisStore, raw: redis.Redis, unique: str) -> None:
    key = f"{unique}:lock:r"
    lock = store.lock("r", 5)
    assert lock.acquire()
    assert lock.refresh(60) and 59_000 < raw.pttl(key) <= 60_000
    assert lock.refresh(0) and raw.ttl(key) == -1, "0 keeps the lock until it is released"
    assert store.lock("r", 5).refresh(60) is False and raw.ttl(key) == -1
    assert lock.release()


def test_lua_scripts_are_files_with_a_header_and_registered_once(store: RedisStore) -> None:
    for name in ("release_lock", "refresh_lock"):
        header = [
            line for line in lua.source("freight.cache.stores", name).splitlines() if line.startswith("--")
        ]
        assert any("KEYS[1]" in line for line in header) and any("ARGV[1]" in line for line in header)
    scripts = (store._release, store._refresh)
    store.lock("a", 1).release()
    store.lock("b", 1).refresh()
    assert (store._release, store._refresh) == scripts


def test_any_string_is_a_key(store: RedisStore) -> None:
    for key in ["", " ", "a b\r\nc", "ü✓", "\x00", "\ud800 lone surrogate", "x" * 10_000]:
        store.put(key, key.encode("utf-8", "surrogatepass"), 60)
        assert store.get(key) == key.encode("utf-8", "surrogatepass")
    assert store.get("\udc00") is None, "distinct surrogates are distinct keys"


def test_a_dead_server_raises_cache_connection_error_naming_the_address() -> None:
    port = _free_port()
    dead = create({"name": "gone", "url": f"redis://127.0.0.1:{port}/0", "prefix": "p"}, None)
    started = time.monotonic()
    for call in (lambda: dead.get("k"), lambda: dead.put("k", b"v", 1), lambda: dead.lock("l", 1).acquire()):
        with pytest.raises(CacheConnectionError, match=f"'gone'.*127.0.0.1:{port}") as caught:
            call()
        assert isinstance(caught.value.__cause__, redis.ConnectionError)
    assert time.monotonic() - started < 2, "a dead server fails fast (few, short retries)"


def test_a_client_handed_in_is_used_and_not_closed(redis_url: str, unique: str, raw: redis.Redis) -> None:
    client = redis.Redis.from_url(redis_url)
    manager = CacheManager(
        {"default": "r", "prefix": unique, "stores": {"r": {"driver": "redis", "client": client}}}
    )
    manager.put("k", 1)
    manager.purge()
    assert client.get(f"{unique}:1:k") == b"1", "purge() must not close the application's client"
    client.close()


TAGGED_KEYS = 2000


def test_a_tag_flush_really_deletes_its_members_from_the_server(
    redis_url: str, unique: str, raw: redis.Redis
) -> None:
    cache = CacheManager(
        {"default": "r", "prefix": unique, "stores": {"r": {"driver": "redis", "url": redis_url}}}
    )
    try:
        repo = cache.store()
        repo.put_many({f"k{i}": i for i in range(TAGGED_KEYS)}, 600, tags=["bulk"])
        repo.put("spared", 1, 600, tags=["other"])
        assert len(list(raw.scan_iter(match=f"{unique}:1:k*", count=1000))) == TAGGED_KEYS
        assert repo.flush_tags("bulk") == TAGGED_KEYS
        assert not list(raw.scan_iter(match=f"{unique}:1:k*", count=1000)), "the members are gone, not hidden"
        assert raw.get(f"{unique}:1:spared") is not None
        meta = sorted(k.decode() for k in raw.scan_iter(match=f"{unique}:1#t:*", count=1000))
        assert meta == [f"{unique}:1#t:{part}" for part in ("v:bulk", "v:other", "z:other")]
        assert all(0 < raw.pttl(k) <= 600_000 for k in meta), "tag metadata lives no longer than its members"
    finally:
        cache.purge()


def test_a_tagged_read_is_one_round_trip(redis_url: str, unique: str) -> None:
    cache = CacheManager(
        {"default": "r", "prefix": unique, "stores": {"r": {"driver": "redis", "url": redis_url}}}
    )
    try:
        tagged = cache.tags("a", "b")
        tagged.put("k", "v", 60)
        client = cache.store().store.client  # type: ignore[attr-defined]
        sent: list[Any] = []
        original = client.execute_command
        client.execute_command = lambda *args, **kw: sent.append(args[0]) or original(*args, **kw)
        assert tagged.get("k") == "v"
        assert sent == ["EVALSHA"], f"one script call, not {sent}"
    finally:
        cache.purge()


def test_tag_metadata_ttl_is_raised_by_a_longer_member_never_lowered(
    redis_url: str, unique: str, raw: redis.Redis
) -> None:
    cache = CacheManager(
        {"default": "r", "prefix": unique, "stores": {"r": {"driver": "redis", "url": redis_url}}}
    )
    try:
        cache.put("long", 1, 1000, tags=["t"])
        cache.put("short", 1, 10, tags=["t"])
        for part in ("v:t", "z:t"):
            assert raw.pttl(f"{unique}:1#t:{part}") > 900_000, (
                "a short write never lowers the tag's TTL (cashews)"
            )
        cache.put("forever", 1, None, tags=["t"])
        assert raw.pttl(f"{unique}:1#t:v:t") == -1 and raw.pttl(f"{unique}:1#t:z:t") == -1
    finally:
        cache.purge()
