"""Array store specifics: LRU eviction, thread safety, isolation of cached objects."""

from __future__ import annotations

import threading

import pytest
from cachekit import FakeClock

from freight.cache.manager import CacheManager
from freight.cache.repository import Repository
from freight.cache.stores.array import ArrayStore
from freight.errors import ConfigurationError


def array(clock: FakeClock | None = None, **options: object) -> Repository:
    config = {"default": "a", "stores": {"a": {"driver": "array", **options}}}
    return CacheManager(config, clock=clock or FakeClock()).store()


def test_max_entries_evicts_the_least_recently_used() -> None:
    cache = array(max_entries=3)
    cache.put_many({"a": 1, "b": 2, "c": 3})
    assert cache.get("a") == 1  # a is now the most recently used
    cache.put("d", 4)
    assert cache.many(["a", "b", "c", "d"]) == {"a": 1, "b": None, "c": 3, "d": 4}
    cache.increment("e")  # reads refreshed a, c, d in that order: a is the least recent now
    assert list(cache.store._data) == ["c", "d", "e"]  # type: ignore[attr-defined]


def test_without_max_entries_nothing_is_evicted() -> None:
    cache = array()
    cache.put_many({f"k{i}": i for i in range(5000)})
    assert cache.get("k0") == 0 and cache.get("k4999") == 4999


@pytest.mark.parametrize("bad", [0, -1, 1.5, "10", True])
def test_max_entries_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="max_entries"):
        array(max_entries=bad)


def test_cached_objects_are_copies() -> None:
    cache = array()
    value = {"list": [1]}
    cache.put("k", value)
    value["list"].append(2)
    got = cache.get("k")
    assert got == {"list": [1]}
    got["list"].append(3)
    assert cache.get("k") == {"list": [1]}


def test_prune_drops_expired_entries_and_counts_them() -> None:
    clock = FakeClock()
    cache = array(clock)
    cache.put_many({"a": 1, "b": 2}, 5)
    cache.put("c", 3)
    clock.advance(6)
    assert cache.prune() == 2
    assert cache.prune() == 0
    assert cache.get("c") == 3


def test_flush_keeps_locks() -> None:
    cache = array()
    lock = cache.lock("l", 60)
    assert lock.acquire()
    cache.put("k", 1)
    cache.flush()
    assert cache.missing("k")
    assert lock.current_owner() == lock.owner


def test_increments_and_adds_are_atomic_between_threads() -> None:
    cache = array()
    added: list[bool] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        added.append(cache.add("once", 1))
        for _ in range(500):
            cache.increment("n")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.get("n") == 4000
    assert added.count(True) == 1


def test_two_array_stores_share_nothing() -> None:
    first, second = ArrayStore(name="one"), ArrayStore(name="two")
    first.put("k", b"1", None)
    assert second.get("k") is None
    assert "array" in repr(first) and "'one'" in repr(first)
