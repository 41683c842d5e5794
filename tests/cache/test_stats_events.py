"""Hit/miss/write/forget counters and typed events, on every backend."""

from __future__ import annotations

from cachekit import CacheEnv

from freight.cache.events import (
    CacheEvent,
    CacheFailedOver,
    CacheFlushed,
    CacheHit,
    CacheMissed,
    KeyForgotten,
    KeyIncremented,
    KeyWritten,
)
from freight.cache.repository import EXTRA_STATS, Repository

EXTRA = dict.fromkeys(EXTRA_STATS, 0)


def test_stats_count_hits_misses_writes_and_forgets(env: CacheEnv, cache: Repository) -> None:
    assert cache.stats() == {"hits": 0, "misses": 0, "writes": 0, "forgets": 0, **EXTRA}
    cache.get("absent")
    cache.has("absent")
    cache.put("k", "v")
    cache.get("k")
    cache.many(["k", "absent"])
    cache.increment("n")
    cache.forget("k")
    if env.caps.persists:
        assert cache.stats() == {"hits": 2, "misses": 3, "writes": 2, "forgets": 1, **EXTRA}
    else:
        assert cache.stats() == {"hits": 0, "misses": 5, "writes": 1, "forgets": 1, **EXTRA}
    assert env.manager.stats() == cache.stats(), "the manager forwards to the default store"
    cache.reset_stats()
    assert cache.stats() == {"hits": 0, "misses": 0, "writes": 0, "forgets": 0, **EXTRA}


def test_listeners_receive_typed_events(env: CacheEnv, cache: Repository) -> None:
    seen: list[CacheEvent] = []
    env.manager.listen(seen.append)  # after the store was resolved
    cache.get("absent")
    cache.put("k", {"v": 1}, 30)
    cache.get("k")
    cache.increment("n", 2)
    cache.forget("k")
    cache.flush()
    name = cache.name
    expected: list[CacheEvent] = [CacheMissed(name, "absent")]
    if env.caps.persists:
        expected += [KeyWritten(name, "k", {"v": 1}, 30.0), CacheHit(name, "k", {"v": 1})]
    else:
        expected += [CacheMissed(name, "k")]
    expected += [
        KeyIncremented(name, "n", 2, 2),
        KeyForgotten(name, "k", env.caps.persists),
        CacheFlushed(name),
    ]
    failovers = [e for e in seen if isinstance(e, CacheFailedOver)]
    assert [e for e in seen if not isinstance(e, CacheFailedOver)] == expected
    assert all(event.store == "main" for event in seen)
    assert len(failovers) == (1 if env.backend == "failover" else 0), "one event per failing streak"


def test_a_listener_registered_first_sees_stores_resolved_later(env: CacheEnv) -> None:
    manager = env.new_manager()
    seen: list[CacheEvent] = []
    manager.listen(seen.append)
    manager.get("absent")
    assert [e for e in seen if not isinstance(e, CacheFailedOver)] == [CacheMissed("main", "absent")]
