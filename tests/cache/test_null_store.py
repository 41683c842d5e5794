"""Null store specifics: nothing is kept, writes say so, every lock acquires."""

from __future__ import annotations

from freight.cache.manager import CacheManager
from freight.cache.repository import Repository


def null() -> Repository:
    return CacheManager({"default": "n", "stores": {"n": {"driver": "null"}}}).store()


def test_writes_report_that_nothing_was_stored() -> None:
    cache = null()
    assert cache.put("k", "v") is False
    assert cache.forever("k", "v") is False
    assert cache.add("k", "v") is False
    assert cache.put_many({"a": 1}) is False
    assert cache.touch("k", 10) is False
    assert cache.forget("k") is False
    assert cache.flush() is True
    assert cache.prune() == 0
    assert cache.increment("n", 5) == 5 and cache.increment("n", 5) == 5
    assert cache.get("k", "default") == "default"


def test_every_lock_acquires() -> None:
    cache = null()
    first, second = cache.lock("l", 10), cache.lock("l", 10)
    assert first.acquire() and second.acquire()
    assert first.current_owner() == first.owner
    assert first.release() and second.release() and first.refresh()
    first.force_release()
    assert first.block(0, lambda: "ran") == "ran"
    with cache.lock("l"):
        pass
