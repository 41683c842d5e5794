"""TTL rules on every backend: None is forever; seconds, timedelta, datetime; ``<= 0`` forgets.

Stores whose expiry follows the injected clock travel in time; redis and memcached
keep time on the server, so one test per backend waits for real (under a second for
redis, two seconds for memcached, whose clock ticks in whole seconds).
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from cachekit import CacheEnv, server_time, time_travel

from freight.cache.repository import Repository


@pytest.mark.parametrize(
    "ttl",
    [10, 10.0, dt.timedelta(seconds=10)],
    ids=["int", "float", "timedelta"],
)
@time_travel
def test_a_relative_ttl_expires_after_that_many_seconds(
    env: CacheEnv, cache: Repository, ttl: object
) -> None:
    assert cache.put("k", "v", ttl)  # type: ignore[arg-type]
    env.clock.advance(9.9)
    assert cache.get("k") == "v"
    env.clock.advance(0.2)
    assert cache.missing("k")
    assert cache.get("k", "expired") == "expired"


@time_travel
def test_a_datetime_ttl_is_an_absolute_expiry(env: CacheEnv, cache: Repository) -> None:
    at = dt.datetime.fromtimestamp(env.clock() + 30, tz=dt.UTC)
    cache.put("k", "v", at)
    env.clock.advance(29.9)
    assert cache.has("k")
    env.clock.advance(0.2)
    assert cache.missing("k")


@pytest.mark.parametrize(
    "ttl",
    [0, -1, -0.5, dt.timedelta(0), dt.timedelta(seconds=-5), "past"],
    ids=["0", "-1", "-0.5", "td0", "td-5", "past-datetime"],
)
def test_a_ttl_of_zero_or_less_forgets_the_key(env: CacheEnv, cache: Repository, ttl: object) -> None:
    if ttl == "past":
        ttl = dt.datetime.fromtimestamp(env.clock() - 60, tz=dt.UTC)
    cache.put("k", "old")
    assert cache.put("k", "new", ttl) is True  # type: ignore[arg-type]
    assert cache.missing("k")
    cache.put_many({"a": 1, "b": 2})
    assert cache.put_many({"a": 3, "b": 4}, ttl) is True  # type: ignore[arg-type]
    assert cache.many(["a", "b"]) == {"a": None, "b": None}
    assert cache.add("c", 1, ttl) is False  # type: ignore[arg-type]
    assert cache.missing("c")


@time_travel
def test_touch_gives_a_new_ttl(env: CacheEnv, cache: Repository) -> None:
    cache.put("k", "v", 10)
    assert cache.touch("k", 100)
    env.clock.advance(50)
    assert cache.get("k") == "v"
    assert cache.touch("k", None), "None makes it permanent"
    env.clock.advance(10**6)
    assert cache.get("k") == "v"
    assert cache.touch("k", 0) is True, "a zero TTL removes the key"
    assert cache.missing("k")
    cache.put("gone", 1, 5)
    env.clock.advance(6)
    assert cache.touch("gone", 100) is False, "an expired key cannot be touched back to life"


@time_travel
def test_add_replaces_an_expired_entry(env: CacheEnv, cache: Repository) -> None:
    assert cache.add("k", "first", 5)
    assert not cache.add("k", "second", 5)
    env.clock.advance(6)
    assert cache.add("k", "third", 5)
    assert cache.get("k") == "third"


@time_travel
def test_increment_keeps_the_ttl_and_restarts_after_expiry(env: CacheEnv, cache: Repository) -> None:
    cache.put("n", 5, 10)
    assert cache.increment("n") == 6
    env.clock.advance(9)
    assert cache.get("n") == 6
    env.clock.advance(2)
    assert cache.missing("n")
    assert cache.increment("n") == 1
    env.clock.advance(10**6)
    assert cache.get("n") == 1, "a counter created by increment never expires"


@time_travel
def test_put_many_and_remember_use_the_ttl(env: CacheEnv, cache: Repository) -> None:
    cache.put_many({"a": 1, "b": 2}, dt.timedelta(seconds=10))
    cache.remember("r", 10, lambda: "computed")
    env.clock.advance(11)
    assert cache.many(["a", "b", "r"]) == {"a": None, "b": None, "r": None}
    assert cache.remember("r", 10, lambda: "again") == "again"


@time_travel
def test_prune_removes_expired_entries(env: CacheEnv, cache: Repository) -> None:
    cache.put("short", 1, 5)
    cache.put("long", 2, 500)
    cache.put("forever", 3)
    env.clock.advance(10)
    assert cache.prune() in (0, 1), "stores that expire by themselves report 0"
    assert cache.many(["short", "long", "forever"]) == {"short": None, "long": 2, "forever": 3}


@server_time
def test_server_side_expiry(env: CacheEnv, cache: Repository) -> None:
    """One real wait covers put, put_many, add, touch, increment and lock expiry."""
    ttl = 2.0 if env.cache.store.driver == "memcached" else 0.4
    cache.put("k", "v", ttl)
    cache.put_many({"a": 1}, ttl)
    cache.add("added", 1, ttl)
    cache.put("touched", "kept", ttl)
    assert cache.touch("touched", 60)
    cache.put("n", 1, ttl)
    assert cache.increment("n") == 2
    lock = cache.lock("l", ttl)
    assert lock.acquire()
    assert cache.many(["k", "a", "added", "n"]) == {"k": "v", "a": 1, "added": 1, "n": 2}
    time.sleep(ttl + 0.15)
    assert cache.many(["k", "a", "added", "n"]) == {"k": None, "a": None, "added": None, "n": None}
    assert cache.get("touched") == "kept"
    assert cache.lock("l", 10).acquire(), "an expired lock can be taken again"
