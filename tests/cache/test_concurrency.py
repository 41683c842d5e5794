"""Eight processes at once on every shared store: increments, locks and add stay atomic.

Each store is built from a CacheManager configuration with the test's unique prefix
(and table names), exactly as an application would build it, in every process.
Processes come from the "forkserver" context (a fork of a clean, preloaded server:
fast to start, and none of pytest's state or sockets is inherited); each scenario
waits at a barrier so the processes really collide, and every wait is bounded.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

import pytest

from freight.cache.limiter import RateLimiter
from freight.cache.manager import CacheManager
from freight.cache.repository import Repository

WORKERS = 8
INCREMENTS = 1000
LOCK_ROUNDS = 15
ADD_KEYS = 25
FUNNEL_WORKERS = 6
FUNNEL_ROUNDS = 5
LIMIT = 20
LIMITER_CALLS = 5
WINDOW_START = 1_900_000_000.0
FLIGHT_PROCESSES = 4
FLIGHT_THREADS = 8
BUILD_SECONDS = 0.5
TIMEOUT = 90.0
PRELOAD = [
    "freight.cache.manager",
    "freight.cache.repository",
    "freight.cache.stores.file",
    "freight.cache.stores.redis",
    "freight.cache.stores.memcached",
    "freight.cache.stores.database",
    "redis",
    "pymemcache.client.hash",
    "sqlalchemy",
    "psycopg",
    "pymysql",
]
BACKENDS = ["redis", "memcached", "sqlite", "postgres", "mysql", "file"]


def _context() -> BaseContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)  # takes effect if this run has not started the server yet
    return ctx


def _store_config(request: pytest.FixtureRequest, backend: str, unique: str, tmp: Path) -> dict[str, Any]:
    if backend == "redis":
        return {"driver": "redis", "url": request.getfixturevalue("redis_url")}
    if backend == "memcached":
        return {"driver": "memcached", "servers": request.getfixturevalue("memcached_servers")}
    if backend == "file":
        return {"driver": "file", "path": str(tmp / "cache")}
    fixture = {"sqlite": "sqlite_url", "postgres": "postgres_url", "mysql": "mysql_url"}[backend]
    return {
        "driver": "database",
        "url": request.getfixturevalue(fixture),
        "table": f"{unique}_cache",
        "lock_table": f"{unique}_locks",
    }


@pytest.fixture(params=BACKENDS)
def config(request: pytest.FixtureRequest, unique: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A cache configuration whose default store is the backend under test (cleaned up after)."""
    store = _store_config(request, request.param, unique, tmp_path)
    config = {"default": "main", "prefix": unique, "stores": {"main": store}}
    yield config
    manager = CacheManager(config)
    try:
        backend = manager.store().store
        if store["driver"] == "database":
            backend.drop_tables()  # type: ignore[attr-defined]
        elif store["driver"] != "file":
            backend.flush()
            for name in ("mutex",):
                backend.lock(name).force_release()
    finally:
        manager.purge()


# -- what each process does (module-level, so the forkserver children can import it) ---------
def _increments(cache: Repository, index: int, shared: Any) -> list[int]:
    return [cache.increment("counter") for _ in range(INCREMENTS)]


def _locks(cache: Repository, index: int, shared: Any) -> list[int]:
    """Take the lock LOCK_ROUNDS times; inside, count the holders and bump an unguarded counter."""
    holders_seen = []
    for _ in range(LOCK_ROUNDS):
        lock = cache.lock("mutex", 30)
        lock.poll_interval = 0.002
        lock.block(TIMEOUT)
        try:
            holders_seen.append(cache.increment("holders"))
            before = shared.value  # a read-modify-write only the lock protects
            time.sleep(0.001)
            shared.value = before + 1
            cache.decrement("holders")
        finally:
            assert lock.release(), "the holder could not release its own lock"
    return holders_seen


def _adds(cache: Repository, index: int, shared: Any) -> list[bool]:
    return [cache.add(f"key{i}", index, 60) for i in range(ADD_KEYS)]


def _funnel(cache: Repository, index: int, shared: Any) -> list[int]:
    """Enter a funnel of 2 FUNNEL_ROUNDS times; inside, count the holders."""
    seen = []
    for _ in range(FUNNEL_ROUNDS):
        with cache.funnel("reports", limit=2, block=TIMEOUT):
            seen.append(cache.increment("holders"))
            time.sleep(0.003)
            cache.decrement("holders")
    return seen


def _attempts(cache: Repository, index: int, shared: Any) -> list[list[bool]]:
    """LIMITER_CALLS attempts in each of two windows (clocks fixed at their start; every
    process leaves the first window before any enters the second: ``shared`` is a barrier)."""
    outcomes = []
    for start in (WINDOW_START, WINDOW_START + 60):
        shared.wait(TIMEOUT)
        limiter = RateLimiter(cache, clock=lambda start=start: start)
        outcomes.append([limiter.attempt("api", LIMIT, lambda: True, decay=60) for _ in range(LIMITER_CALLS)])
    return outcomes


def _single_flight(cache: Repository, index: int, shared: Any) -> list[str]:
    """FLIGHT_THREADS threads call remember on one cold key whose builder takes BUILD_SECONDS."""

    def build() -> str:
        with shared.get_lock():
            shared.value += 1
        time.sleep(BUILD_SECONDS)
        return f"built by {index}"

    got: list[str] = []
    threads = [
        threading.Thread(target=lambda: got.append(cache.remember("report", 60, build, lock_wait=TIMEOUT)))
        for _ in range(FLIGHT_THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    return got


TASKS: dict[str, Callable[[Repository, int, Any], Any]] = {
    "single_flight": _single_flight,
    "increment": _increments,
    "lock": _locks,
    "add": _adds,
    "funnel": _funnel,
    "attempt": _attempts,
}


def _worker(task: str, config: dict[str, Any], index: int, barrier: Any, results: Any, shared: Any) -> None:
    try:
        manager = CacheManager(config)
        cache = manager.store()
        barrier.wait(TIMEOUT)
        outcome = TASKS[task](cache, index, shared)
        manager.purge()
        results.put((index, True, outcome))
    except BaseException:
        results.put((index, False, traceback.format_exc()))


def _run(task: str, config: dict[str, Any], shared: Any = None, workers: int = WORKERS) -> dict[int, Any]:
    """Run ``task`` in ``workers`` processes at once; their results by index."""
    ctx = _context()
    barrier = ctx.Barrier(workers)  # type: ignore[attr-defined]
    results = ctx.Queue()  # type: ignore[attr-defined]
    processes = [
        ctx.Process(target=_worker, args=(task, config, i, barrier, results, shared))  # type: ignore[attr-defined]
        for i in range(workers)
    ]
    outcomes: dict[int, Any] = {}
    failures: list[str] = []
    try:
        for process in processes:
            process.start()
        deadline = time.monotonic() + TIMEOUT
        while len(outcomes) + len(failures) < workers:
            index, ok, payload = results.get(timeout=max(0.1, deadline - time.monotonic()))
            if ok:
                outcomes[index] = payload
            else:
                failures.append(f"process {index}:\n{payload}")
        for process in processes:
            process.join(timeout=10)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(5)
    assert not failures, "\n".join(failures)
    return outcomes


def test_eight_processes_increment_one_key_exactly(config: dict[str, Any]) -> None:
    outcomes = _run("increment", config)
    seen = sorted(n for values in outcomes.values() for n in values)
    assert seen == list(range(1, WORKERS * INCREMENTS + 1)), "every increment returned a distinct value"
    assert CacheManager(config).get("counter") == WORKERS * INCREMENTS


def test_eight_processes_never_hold_one_lock_together(config: dict[str, Any]) -> None:
    shared = _context().RawValue("i", 0)  # type: ignore[attr-defined]
    outcomes = _run("lock", config, shared)
    holders = [n for values in outcomes.values() for n in values]
    assert len(holders) == WORKERS * LOCK_ROUNDS
    assert set(holders) == {1}, "two processes held the lock at the same time"
    assert shared.value == WORKERS * LOCK_ROUNDS, "an update made under the lock was lost"
    manager = CacheManager(config)
    assert manager.get("holders") == 0
    assert manager.lock("mutex").current_owner() is None


def test_eight_processes_add_the_same_key_and_exactly_one_wins(config: dict[str, Any]) -> None:
    outcomes = _run("add", config)
    cache = CacheManager(config)
    for i in range(ADD_KEYS):
        winners = [index for index, added in outcomes.items() if added[i]]
        assert len(winners) == 1, f"key{i} was added by {winners}"
        assert cache.get(f"key{i}") == winners[0]


def test_a_funnel_of_two_never_has_three_holders_across_six_processes(config: dict[str, Any]) -> None:
    outcomes = _run("funnel", config, workers=FUNNEL_WORKERS)
    seen = [n for values in outcomes.values() for n in values]
    assert len(seen) == FUNNEL_WORKERS * FUNNEL_ROUNDS, "every process got through the funnel"
    assert max(seen) <= 2, f"{max(seen)} processes held a funnel of 2 at once"
    manager = CacheManager(config)
    assert manager.get("holders") == 0
    assert manager.funnel("reports", limit=2).acquire(), "every slot was given back"


def test_attempt_allows_exactly_the_limit_per_window_across_eight_processes(config: dict[str, Any]) -> None:
    outcomes = _run("attempt", config, _context().Barrier(WORKERS))  # type: ignore[attr-defined]
    for window in (0, 1):
        allowed = sum(sum(values[window]) for values in outcomes.values())
        assert allowed == LIMIT, f"window {window}: {allowed} attempts allowed, expected exactly {LIMIT}"


@pytest.mark.slow
def test_single_flight_builds_a_cold_key_once_across_four_processes_of_eight_threads(
    config: dict[str, Any],
) -> None:
    builds = _context().Value("i", 0)  # type: ignore[attr-defined]
    outcomes = _run("single_flight", config, builds, workers=FLIGHT_PROCESSES)
    values = [v for got in outcomes.values() for v in got]
    assert len(values) == FLIGHT_PROCESSES * FLIGHT_THREADS, "every caller got a value"
    assert builds.value == 1, f"the builder ran {builds.value} times"
    assert len(set(values)) == 1, "every caller got the one value that was built"
