"""The asyncio cache API on every backend: the same results as the sync API, and an event loop
that never waits on a store (asyncio debug mode flags any callback slower than the threshold)."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cachekit import persistent

from freight.cache.manager import CacheManager
from freight.cache.repository import Repository
from freight.cache.stores.array import ArrayStore
from freight.errors import InvalidKeyError, LockTimeoutError

T = TypeVar("T")

#: sync calls made by a test from inside its coroutine run in a thread, like any sync code should
sync = asyncio.to_thread

#: a callback running longer than this on the loop is reported by asyncio's debug mode; only
#: the slow-store test asserts on it (its store blocks for longer than this), because on a
#: loaded 2-CPU machine any callback can take a few hundred ms of wall time
SLOW_CALLBACK = 0.9
#: how long each call of the slow store blocks
SLOW_STORE_CALL = 1.0
#: the store primitives that block (network or disk); none may run on the loop's thread
BLOCKING = ("get", "put", "add", "increment", "forget", "many", "put_many", "touch", "flush", "lock")


def run(
    make: Callable[[], Awaitable[T]],
    caplog: pytest.LogCaptureFixture | None = None,
    cache: Repository | None = None,
) -> T:
    """Run ``make()`` on a fresh loop in debug mode; fail if a callback blocked the loop, or if a
    blocking primitive of ``cache``'s store ran on the loop's thread."""
    on_loop: list[str] = []
    loop_thread: list[int] = []
    patched: list[tuple[type, str, Any]] = []
    if cache is not None:  # wrap the methods on the class: stores derived by copy() stay spied
        kind = type(cache.store)
        for name in BLOCKING:
            original = kind.__dict__.get(name)
            inherited = getattr(kind, name)

            def spy(self: Any, *args: Any, _name: str = name, _fn: Any = inherited) -> Any:
                if loop_thread and threading.get_ident() == loop_thread[0] and _name != "lock":
                    on_loop.append(_name)
                return _fn(self, *args)

            patched.append((kind, name, original))
            setattr(kind, name, spy)

    async def main() -> T:
        asyncio.get_running_loop().slow_callback_duration = SLOW_CALLBACK
        loop_thread.append(threading.get_ident())
        return await make()

    try:
        if caplog is None:
            result = asyncio.run(main(), debug=True)
        else:
            with caplog.at_level(logging.WARNING, logger="asyncio"):
                result = asyncio.run(main(), debug=True)
    finally:
        for kind, name, original in patched:
            if original is None:
                delattr(kind, name)
            else:
                setattr(kind, name, original)
    records = caplog.records if caplog is not None else []
    slow = [r.getMessage() for r in records if r.name == "asyncio" and "took" in r.getMessage()]
    assert not slow, f"asyncio debug mode: the event loop was blocked: {slow}"
    assert not on_loop, f"blocking store calls ran on the event loop: {on_loop}"
    return result


@persistent
def test_async_and_sync_calls_see_the_same_values(cache: Repository) -> None:
    async def scenario() -> None:
        assert await cache.aget("missing", "dflt") == "dflt"
        assert await cache.aget("missing", lambda: "called") == "called"
        assert await cache.aput("a", {"x": [1, 2]}, 60) is True
        assert await sync(cache.get, "a") == {"x": [1, 2]}
        await sync(cache.put, "b", (1, "two"))
        assert await cache.aget("b") == (1, "two")
        await sync(cache.put, "none", None)
        assert await cache.ahas("none") and not await cache.ahas("nothing")
        assert await cache.amany(["a", "b", "zz"], default=0) == {
            "a": {"x": [1, 2]},
            "b": (1, "two"),
            "zz": 0,
        }
        assert await cache.aput_many({"m1": 1.5, "m2": "two"}, 60)
        assert await sync(cache.many, ["m1", "m2"]) == {"m1": 1.5, "m2": "two"}
        assert await cache.aforget("a") is True
        assert await cache.aforget("a") is False
        assert await sync(cache.get, "a") is None
        assert await cache.aput("gone", 1, 0) is True
        assert not await sync(cache.has, "gone")
        assert await cache.aforever("f", "ever") and await sync(cache.get, "f") == "ever"
        assert await cache.apull("f") == "ever" and not await sync(cache.has, "f")

    run(scenario, None, cache)


@persistent
def test_aadd_is_atomic_and_aincrement_counts(cache: Repository) -> None:
    async def scenario() -> None:
        results = await asyncio.gather(*(cache.aadd("once", i, 60) for i in range(10)))
        assert results.count(True) == 1
        assert await sync(cache.get, "once") == results.index(True)
        assert await cache.aadd("never", 1, 0) is False
        counts = await asyncio.gather(*(cache.aincrement("hits") for _ in range(20)))
        assert sorted(counts) == list(range(1, 21))
        assert await cache.adecrement("hits", 5) == 15
        assert await sync(cache.get, "hits") == 15
        with pytest.raises(TypeError):
            await cache.aincrement("hits", 1.5)  # type: ignore[arg-type]
        with pytest.raises(InvalidKeyError):
            await cache.aget(3)  # type: ignore[arg-type]

    run(scenario, None, cache)


@persistent
def test_aremember_with_sync_and_async_builders(cache: Repository) -> None:
    calls: list[str] = []

    async def build_async() -> dict[str, int]:
        await asyncio.sleep(0.01)
        calls.append("async")
        return {"n": 1}

    def build_sync() -> str:
        calls.append("sync")
        return "value"

    async def scenario() -> None:
        assert await cache.aremember("r1", 60, build_async) == {"n": 1}
        assert await cache.aremember("r1", 60, build_async) == {"n": 1}
        assert await cache.aremember("r2", 60, build_sync) == "value"
        assert await cache.aremember_forever("r2", build_sync) == "value"
        assert await sync(cache.get, "r1") == {"n": 1}

    run(scenario, None, cache)
    assert calls == ["async", "sync"]


@persistent
def test_async_locks(cache: Repository) -> None:
    async def scenario() -> None:
        async with cache.lock("job", 30) as held:
            assert held.owner == held.current_owner()
            other = cache.lock("job", 30)
            assert await other.aacquire() is False
            with pytest.raises(LockTimeoutError):
                async with cache.lock("job", 30):
                    pass
            with pytest.raises(LockTimeoutError):
                await other.ablock(0.15)
        assert await other.aacquire() is True
        assert await other.arefresh(60) is True
        assert await other.arelease() is True

        async def guarded() -> str:
            await asyncio.sleep(0.01)
            return "ran"

        assert await cache.lock("job2", 30).ablock(1, guarded) == "ran"
        assert await sync(cache.lock("job2", 30).acquire), "ablock released the lock after fn"

    run(scenario, None, cache)


@persistent
def test_concurrent_holders_are_serialised(cache: Repository) -> None:
    inside = most = 0

    async def holder() -> None:
        nonlocal inside, most
        lock = cache.lock("mutex", 10)
        await lock.ablock(5)
        try:
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.005)
            inside -= 1
        finally:
            await lock.arelease()

    async def contend() -> None:
        await asyncio.gather(*(holder() for _ in range(5)))

    run(contend)
    assert most == 1


def test_a_slow_store_never_blocks_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    """A store whose every call blocks for a second: the loop keeps ticking while a* calls wait,
    and asyncio's debug mode reports no slow callback."""

    class SlowStore(ArrayStore):
        def get(self, key: str) -> bytes | None:
            time.sleep(SLOW_STORE_CALL)
            return super().get(key)

        def put(self, key: str, value: bytes, seconds: float | None) -> bool:
            time.sleep(SLOW_STORE_CALL)
            return super().put(key, value, seconds)

    manager = CacheManager({"default": "slow", "stores": {"slow": {"driver": "slow"}}})
    manager.extend("slow", lambda config, m: SlowStore(name="slow"))

    async def scenario() -> int:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        await manager.aput("k", "v")
        assert await manager.aget("k") == "v"
        assert await manager.aremember("k", 10, lambda: "unused") == "v"
        done.set()
        await task
        return ticks

    assert run(scenario, caplog) > 100
    assert threading.active_count() >= 1


def test_the_manager_forwards_the_async_api(tmp_path: Any) -> None:
    manager = CacheManager({"default": "array", "stores": {"array": {"driver": "array"}}})

    async def scenario() -> None:
        assert await manager.aput("k", 1)
        assert await manager.aget("k") == 1
        assert await manager.aadd("k", 2) is False
        assert await manager.aincrement("k", 2) == 3
        assert await manager.adecrement("k") == 2
        assert await manager.amany(["k"]) == {"k": 2}
        assert await manager.aput_many({"x": 1})
        assert await manager.ahas("x")
        assert await manager.aremember("y", 5, lambda: 7) == 7
        assert await manager.aforget("y")

    run(scenario)


def test_the_asyncio_benchmark_runs(redis_url: str) -> None:
    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:  # the benchmarks package lives beside src/
        sys.path.insert(0, root)
    from benchmarks.asyncio_cache import measure

    figures = measure(redis_url, n=20, rounds=1)
    assert figures.freight_get > 0 and figures.raw_put > 0
    assert len(figures.lines()) == 3


@persistent
def test_aflexible_and_tagged_values(cache: Repository) -> None:
    calls: list[int] = []

    async def build() -> list[int]:
        await asyncio.sleep(0)
        calls.append(1)
        return [len(calls)]

    async def scenario() -> None:
        assert await cache.aflexible("stats", (60, 600), build) == [1]
        assert await cache.aflexible("stats", (60, 600), build) == [1], "fresh: served from the cache"
        assert await cache.aput("tagged", {"v": 1}, 60, tags=["users"])
        assert await cache.aget("tagged") == {"v": 1}
        assert await cache.amany(["tagged"]) == {"tagged": {"v": 1}}
        await sync(cache.flush_tags, "users")
        assert await cache.aget("tagged") is None, "a flushed tag hides its entries from aget too"

    run(scenario, None, cache)
    assert calls == [1]


@persistent
def test_async_reads_count_hits_and_misses(cache: Repository) -> None:
    async def scenario() -> None:
        await sync(cache.reset_stats)
        assert await cache.aget("nope") is None
        await cache.aput("k", 1)
        assert await cache.aget("k") == 1
        assert await cache.amany(["k", "nope"]) == {"k": 1, "nope": None}

    run(scenario, None, cache)
    stats = cache.stats()
    assert (stats["hits"], stats["misses"]) == (2, 2)
