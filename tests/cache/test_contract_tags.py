"""Tags and namespaces on every store (the contract suite's ``env`` fixture)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from cachekit import CacheEnv, persistent

from freight.cache.events import CacheEvent, TagsFlushed
from freight.cache.repository import Repository

RACE_SECONDS = 3.0
FLUSH_EVERY = 0.05
WRITERS = 4


@persistent
def test_a_tagged_view_writes_reads_by_key_and_flushes(env: CacheEnv, cache: Repository) -> None:
    users = cache.tags("users", "team:7")
    assert users.put("user:1", {"name": "Ada"}, 60)
    assert cache.put("user:2", "Bob", 60, tags=["users"])
    assert cache.put("post:1", "hello", 60, tags=["posts"])
    assert cache.put("plain", "kept", 60)
    assert cache.get("user:1") == {"name": "Ada"} and users.get("user:2") == "Bob"
    assert env.other_process().get("user:1") == {"name": "Ada"}, "read by key alone, from anywhere"
    cache.tags("users").flush()
    assert cache.many(["user:1", "user:2", "post:1", "plain"]) == {
        "user:1": None,
        "user:2": None,
        "post:1": "hello",
        "plain": "kept",
    }
    assert env.other_process().missing("user:1")


@persistent
def test_the_async_read_of_a_tagged_entry_checks_its_tags(env: CacheEnv, cache: Repository) -> None:
    cache.put("k", {"v": 1}, 60, tags=["t"])
    assert asyncio.run(cache.aget("k")) == {"v": 1}
    assert cache.get("k") == {"v": 1}, "an async read never discards a tagged entry"
    cache.flush_tags("t")
    assert asyncio.run(cache.aget("k")) is None


@persistent
def test_every_write_takes_tags(env: CacheEnv, cache: Repository) -> None:
    tagged = cache.tags("t")
    assert tagged.add("a", 1, 60) and not tagged.add("a", 2, 60)
    assert tagged.put_many({"b": 2, "c": 3}, 60)
    assert tagged.forever("d", 4)
    assert tagged.remember("e", 60, lambda: 5) == 5
    assert tagged.increment("n", 3) == 3
    assert cache.many(["a", "b", "c", "d", "e"]) == {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
    assert cache.flush_tags("t") >= 0
    assert cache.many(["a", "b", "c", "d", "e", "n"]) == dict.fromkeys("abcden")
    assert tagged.add("a", "again", 60), "an entry a flush made stale does not block add"
    assert cache.get("a") == "again"


@persistent
def test_flushing_one_tag_spares_entries_without_it(env: CacheEnv, cache: Repository) -> None:
    cache.put("both", 1, 60, tags=["x", "y"])
    cache.put("only-y", 2, 60, tags=["y"])
    cache.flush_tags("x")
    assert cache.missing("both") and cache.get("only-y") == 2
    cache.put("both", 3, 60, tags=["x", "y"])
    assert cache.get("both") == 3, "a write after the flush is a hit"


@persistent
def test_a_rewrite_without_tags_leaves_the_tag(env: CacheEnv, cache: Repository) -> None:
    cache.put("k", "tagged", 60, tags=["t"])
    cache.put("k", "plain", 60)
    cache.flush_tags("t")
    assert cache.get("k") in (None, "plain"), "at worst the flush deletes it: never the tagged value"


@persistent
def test_tag_flushes_are_counted_and_announced(env: CacheEnv, cache: Repository) -> None:
    events: list[CacheEvent] = []
    env.manager.listen(events.append)
    cache.put("k", 1, 60, tags=["a"])
    cache.flush_tags("a", "b")
    flushed = [e for e in events if isinstance(e, TagsFlushed)]
    assert [(e.store, e.tags) for e in flushed] == [(cache.name, ("a", "b"))]
    assert cache.stats()["tag_flushes"] == 2


def test_bad_tags_are_refused(cache: Repository) -> None:
    for bad in ([""], [1], [None]):
        with pytest.raises(TypeError, match="tags"):
            cache.put("k", 1, 60, tags=bad)  # type: ignore[arg-type]


@persistent
def test_a_namespace_is_a_key_space_bumped_in_one_step(env: CacheEnv, cache: Repository) -> None:
    pricing, other = cache.namespace("pricing"), cache.namespace("other")
    assert pricing.put("eur", 1.08) and other.put("eur", "theirs") and cache.put("eur", "plain")
    assert pricing.get("eur") == 1.08 and other.get("eur") == "theirs" and cache.get("eur") == "plain"
    pricing.bump()
    assert pricing.missing("eur") and other.get("eur") == "theirs" and cache.get("eur") == "plain"
    pricing.put("eur", 1.1)
    assert env.other_process().namespace("pricing").get("eur") == 1.1


@pytest.mark.slow
@persistent
def test_a_write_racing_a_flush_never_outlives_it(env: CacheEnv, cache: Repository) -> None:
    """WRITERS threads write tagged keys while a flush runs every FLUSH_EVERY seconds; every key
    whose write had returned before the last flush started reads as a miss afterwards."""
    epoch, stop, written = [0], threading.Event(), []
    lock = threading.Lock()
    caches = [env.other_process() for _ in range(WRITERS)]

    def write(index: int) -> None:
        i = 0
        while not stop.is_set():
            key = f"w{index}-{i}"
            caches[index].put(key, i, 60, tags=["race"])
            with lock:
                written.append((key, epoch[0]))  # the flushes started before this write returned
            i += 1

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    try:  # RACE_SECONDS, longer on a slow server until writes finish between flushes (at most 60 s)
        while time.monotonic() - started < RACE_SECONDS or (
            len(written) < 50 and time.monotonic() - started < 60
        ):
            time.sleep(FLUSH_EVERY)
            with lock:
                epoch[0] += 1
            cache.flush_tags("race")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    last = epoch[0]
    before = [key for key, seen in written if seen < last]
    assert before, "no write finished before the last flush"
    found = {k: v for k, v in cache.many(before).items() if v is not None}
    assert not found, f"{len(found)} keys written before the last flush still read as hits"
