"""Stampede protection on every store: single-flight remember, flexible, XFetch (``beta``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from cachekit import CacheEnv, persistent, time_travel

from freight.cache.events import CacheEvent, SingleFlightWaited, ValueRefreshed
from freight.cache.repository import Repository

THREADS = 8
STALE_READS = 20


def _counting(value: Any = "v", pause: float = 0.0) -> tuple[Callable[[], Any], list[int]]:
    calls: list[int] = []

    def build() -> Any:
        calls.append(1)
        if pause:
            time.sleep(pause)
        return value

    return build, calls


def test_threads_of_one_process_compute_a_cold_key_once(env: CacheEnv, cache: Repository) -> None:
    build, calls = _counting(pause=0.2)
    events: list[CacheEvent] = []
    env.manager.listen(events.append)
    got: list[Any] = []
    threads = [
        threading.Thread(target=lambda: got.append(cache.remember("k", 60, build))) for _ in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == ["v"] * THREADS
    assert len(calls) == 1, f"the builder ran {len(calls)} times"
    waits = [e for e in events if isinstance(e, SingleFlightWaited)]
    assert len(waits) == cache.stats()["flight_waits"] <= THREADS - 1  # late threads simply hit


@persistent
def test_remember_on_a_hit_never_calls_the_builder(env: CacheEnv, cache: Repository) -> None:
    cache.put("k", "cached", 60)
    assert cache.remember("k", 60, lambda: "built") == "cached"
    assert cache.remember("k", 60, lambda: "built", lock=False) == "cached"


def test_lock_false_opts_out(env: CacheEnv, cache: Repository) -> None:
    build, calls = _counting()
    assert cache.remember("k", 60, build, lock=False) == "v"
    assert len(calls) == 1


@persistent
def test_a_lock_held_by_a_dead_computer_never_hangs_a_caller(env: CacheEnv, cache: Repository) -> None:
    dead = env.other_process().lock("flight:k", 30)
    assert dead.acquire(), "a computer that died holding the lock"
    build, calls = _counting()
    started = time.monotonic()
    assert cache.remember("k", 60, build, lock_wait=0.2) == "v"
    assert time.monotonic() - started < 5 and len(calls) == 1, "computed after lock_wait, not hung"
    assert cache.stats()["lock_waits"] == 1
    dead.force_release()


@persistent
def test_a_waiter_takes_the_value_as_soon_as_it_lands(env: CacheEnv, cache: Repository) -> None:
    other = env.other_process()
    busy = other.lock("flight:k", 30)
    assert busy.acquire()
    threading.Timer(0.1, lambda: other.put("k", "from the computer", 60)).start()
    started = time.monotonic()
    assert cache.remember("k", 60, lambda: "never", lock_wait=10) == "from the computer"
    assert time.monotonic() - started < 2
    busy.release()


@time_travel
def test_flexible_serves_fresh_then_stale_with_one_background_refresh(
    env: CacheEnv, cache: Repository
) -> None:
    build, calls = _counting("first")
    assert cache.flexible("stats", (60, 600), build) == "first" and len(calls) == 1
    env.clock.advance(30)
    assert cache.flexible("stats", (60, 600), build) == "first" and len(calls) == 1, "fresh"
    refreshes: list[Callable[[], None]] = []
    cache._flights_of().runner = refreshes.append  # held: the test runs it when it wants
    env.clock.advance(60)
    slow, slow_calls = _counting("second", pause=1.0)
    got, slowest = [], 0.0
    for _ in range(STALE_READS):
        started = time.monotonic()
        got.append(cache.flexible("stats", (60, 600), slow))
        slowest = max(slowest, time.monotonic() - started)
    assert slowest < 0.9, "no stale read waits for the refresh (it takes 1 s)"
    assert got == ["first"] * STALE_READS
    assert len(refreshes) == 1, "one refresh for twenty stale reads"
    events: list[CacheEvent] = []
    env.manager.listen(events.append)
    refreshes.pop()()
    assert len(slow_calls) == 1 and cache.get("stats") == "second"
    assert [type(e) for e in events if isinstance(e, ValueRefreshed)] == [ValueRefreshed]
    assert cache.flexible("stats", (60, 600), slow) == "second" and not refreshes, "fresh again"
    env.clock.advance(700)
    assert cache.flexible("stats", (60, 600), lambda: "third") == "third", "past stale: computed"


@time_travel
def test_one_refresh_at_a_time_across_processes(env: CacheEnv, cache: Repository) -> None:
    cache.flexible("k", (1, 100), lambda: 1)
    env.clock.advance(2)
    held: list[Callable[[], None]] = []
    other = env.other_process()
    cache._flights_of().runner = held.append
    other._flights_of().runner = held.append
    cache.flexible("k", (1, 100), lambda: 2)
    other.flexible("k", (1, 100), lambda: 3)
    assert len(held) == (1 if env.caps.shared else 1), "the refresh lock is taken once"
    held.pop()()
    assert cache.get("k") == 2


@time_travel
def test_xfetch_refreshes_early_near_expiry_and_never_far_from_it(env: CacheEnv, cache: Repository) -> None:
    build, calls = _counting(pause=0.05)
    assert cache.remember("x", 100, build, beta=1.0) == "v" and len(calls) == 1
    for _ in range(20):
        cache.remember("x", 100, build, beta=1.0)
    assert len(calls) == 1, "far from expiry nobody refreshes"
    env.clock.advance(100 - 0.001)
    cache.remember("x", 100, build, beta=50.0)
    assert len(calls) == 2, "right before expiry a read refreshes early"
    assert cache.stats()["refreshes"] == 1
