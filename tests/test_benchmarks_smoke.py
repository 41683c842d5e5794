"""Smoke test of the benchmark suite (benchmarks/): every part runs at a tiny N.

freight's own cases run on the in-process stores, fakeredis and SQLite everywhere, and
on the real servers the fixtures provide. The peer libraries (the ``bench`` extra) are
skipped when they are not installed, as in CI, which installs only ``.[all,dev]``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the benchmarks package lives beside src/, not inside it
    sys.path.insert(0, str(ROOT))

from benchmarks import cache_freight, cache_peers  # noqa: E402
from benchmarks.harness import CacheCase, QueueTarget, Result, Unavailable  # noqa: E402
from benchmarks.memory import run_memory  # noqa: E402
from benchmarks.report import markdown, write_chart, write_json  # noqa: E402
from benchmarks.rounds import run_cache_case, run_queue_target  # noqa: E402
from benchmarks.servers import Env, redis_server  # noqa: E402
from benchmarks.suite import QUEUE_CASES  # noqa: E402
from benchmarks.targets import evaluate  # noqa: E402

N = 50
PEER_QUEUES = {"RQ": "rq", "Dramatiq": "dramatiq", "Huey": "huey", "Celery": "celery", "pgqueuer": "pgqueuer"}
PEER_CACHE_MODULES = {"Django": "django", "cachelib": "cachelib", "diskcache": "diskcache"}


@pytest.fixture
def env(tmp_path: Path, unique: str) -> Env:
    """An Env with no server: the in-process and file-based cases only."""
    return Env(n=N, run_id=unique.lower(), workdir=tmp_path)


@pytest.fixture
def redis_env(env: Env, redis_url: str) -> Iterator[Env]:
    """``env`` with the test Redis; the keys the case creates are deleted afterwards."""
    with redis_server(env, redis_url):
        yield env


def _cache(case: Callable[[], CacheCase]) -> list[Result]:
    try:
        made = case()
    except Unavailable as exc:
        pytest.skip(str(exc))
    results = run_cache_case(made, N)
    assert [r.operation for r in results] == ["put", "get"]
    assert all(r.n == N and r.seconds > 0 for r in results)
    return results


def _queue(make: Callable[[], QueueTarget], tmp_path: Path) -> list[Result]:
    try:
        target = make()
    except Unavailable as exc:
        pytest.skip(str(exc))
    results = run_queue_target(target, N, tmp_path)
    assert results[-1].operation == "drain" and results[-1].n == N
    assert results[-1].extra["startup"] >= 0
    return results


# -- freight --------------------------------------------------------------------------------
@pytest.mark.parametrize("factory", [cache_freight.array, cache_freight.file, cache_freight.database_sqlite])
def test_freight_cache_local(env: Env, factory: Callable[[Env], CacheCase]) -> None:
    _cache(lambda: factory(env))


def test_freight_cache_fakeredis(env: Env) -> None:
    fakeredis = pytest.importorskip("fakeredis")
    env.redis_client = fakeredis.FakeRedis()
    _cache(lambda: cache_freight.redis(env))
    _cache(lambda: cache_peers.raw_redis(env))


def test_freight_cache_servers(redis_env: Env, memcached_servers: list[str], postgres_url: str) -> None:
    redis_env.memcached, redis_env.postgres_url = memcached_servers, postgres_url
    for factory in (cache_freight.redis, cache_freight.memcached, cache_freight.database_postgres):
        _cache(lambda: factory(redis_env))  # noqa: B023 - called at once
    for raw in (cache_peers.raw_redis, cache_peers.raw_pymemcache):
        _cache(lambda: raw(redis_env))  # noqa: B023 - called at once


def test_freight_queue_fakeredis_in_process(env: Env, tmp_path: Path) -> None:
    fakeredis = pytest.importorskip("fakeredis")
    from benchmarks.queue_freight import FreightQueueTarget

    env.redis_client = fakeredis.FakeRedis()
    results = _queue(lambda: FreightQueueTarget(env, "redis"), tmp_path)
    assert [r.operation for r in results] == ["push", "bulk", "drain"]


def test_freight_queue_sqlite_worker_process(env: Env, tmp_path: Path) -> None:
    from benchmarks.queue_freight import FreightQueueTarget

    _queue(lambda: FreightQueueTarget(env, "sqlite"), tmp_path)


@pytest.mark.parametrize("backend", ["redis", "postgres"])
def test_freight_queue_servers(redis_env: Env, postgres_url: str, backend: str, tmp_path: Path) -> None:
    from benchmarks.queue_freight import FreightQueueTarget

    redis_env.postgres_url = postgres_url
    _queue(lambda: FreightQueueTarget(redis_env, backend), tmp_path)


def test_raw_redis_queue_floor(redis_env: Env, tmp_path: Path) -> None:
    from benchmarks.queue_raw import RawRedisTarget

    _queue(lambda: RawRedisTarget(redis_env), tmp_path)


def test_worker_memory(redis_env: Env) -> None:
    result = run_memory(redis_env, jobs=3000, sample=0.01)
    assert result.jobs == 3000 and result.rss_first_kib > 0
    assert result.as_dict()["growth"] == round(result.growth, 4)


# -- peers (the bench extra) ---------------------------------------------------------------
@pytest.mark.parametrize("library", sorted(PEER_QUEUES))
def test_peer_queue(library: str, redis_env: Env, postgres_url: str, tmp_path: Path) -> None:
    if importlib.util.find_spec(PEER_QUEUES[library]) is None:
        pytest.skip(f"{library} is not installed (the bench extra)")
    redis_env.postgres_url = postgres_url
    make = next(factory for name, _, factory in QUEUE_CASES if name == library)
    _queue(lambda: make(redis_env), tmp_path)


@pytest.mark.parametrize(
    "library,factory",
    [(name, factory) for name, _, factory in cache_peers.PEER_CACHES if not name.startswith("raw ")],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_peer_cache(
    library: str, factory: Callable[[Env], CacheCase], redis_env: Env, memcached_servers: list[str]
) -> None:
    module = PEER_CACHE_MODULES[library.split()[0]]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (the bench extra)")
    redis_env.memcached = memcached_servers
    _cache(lambda: factory(redis_env))


# -- reports ----------------------------------------------------------------------------------
def test_report_targets_and_chart(tmp_path: Path) -> None:
    results = [
        Result("queue", "redis", "freight", "push", N, 0.01),
        Result("queue", "redis", "raw redis-py", "push", N, 0.01),
        Result("queue", "redis", "freight", "drain", N, 0.001, {"startup": 0.5, "ack_lag": 0.0}),
        Result("queue", "redis", "RQ", "drain", N, 0.1, {"startup": 0.2, "ack_lag": 0.01}),
        Result("cache", "memory", "freight", "get", N, 0.001),
    ]
    checks = {c.target: c for c in evaluate(results, (1000, 0.02))}
    assert checks["redis drain >= 10,000 jobs/s (one worker process)"].ok is True
    assert checks["redis drain >= 5x the fastest peer"].ok is True
    assert checks["redis push >= 0.9x raw LPUSH"].ok is True
    assert checks["SQLite drain >= 2,000 jobs/s"].ok is None
    assert checks["worker RSS grows < 10% over 1,000 jobs"].ok is True
    text = markdown(results, [], list(checks.values()))
    assert "| redis | **freight** | 5,000 | — | 50,000 | — / — |" in text
    write_json(tmp_path / "r.json", meta={"n": N}, results=results, skips=[], checks=[], memory=None)
    assert (tmp_path / "r.json").read_text().startswith("{")
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("matplotlib is not installed (the bench extra)")
    assert write_chart(tmp_path / "r.png", results, N)
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
