"""The whole benchmark: every queue and cache case in one run, with the run's metadata."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from benchmarks.cache_freight import FREIGHT_CACHES
from benchmarks.cache_peers import PEER_CACHES
from benchmarks.cache_round2 import ROUND2_CACHES
from benchmarks.harness import BenchError, CacheCase, QueueTarget, Result, Skip, Unavailable
from benchmarks.peers.celery_bench import CeleryTarget
from benchmarks.peers.dramatiq_bench import DramatiqTarget
from benchmarks.peers.huey_bench import HueyTarget
from benchmarks.peers.pgqueuer_bench import PgQueuerTarget
from benchmarks.peers.rq_bench import RQTarget
from benchmarks.queue_freight import FreightQueueTarget
from benchmarks.queue_raw import RawRedisTarget
from benchmarks.rounds import SLICES, CacheBench, QueueBench, interleaved_round
from benchmarks.servers import Env

__all__ = ["CACHE_CASES", "QUEUE_CASES", "Run", "collect_meta", "run_suite"]

QUEUE_CASES: list[tuple[str, str, Callable[[Env], QueueTarget]]] = [
    ("freight", "redis", lambda env: FreightQueueTarget(env, "redis")),
    ("raw redis-py", "redis", RawRedisTarget),
    ("RQ", "redis", RQTarget),
    ("Dramatiq", "redis", DramatiqTarget),
    ("Huey", "redis", HueyTarget),
    ("Celery", "redis", CeleryTarget),
    ("freight", "postgres", lambda env: FreightQueueTarget(env, "postgres")),
    ("pgqueuer", "postgres", PgQueuerTarget),
    ("freight", "sqlite", lambda env: FreightQueueTarget(env, "sqlite")),
]
"""(library, backend, factory) for every queue case, in the order they run."""

CACHE_CASES: list[tuple[str, str, Callable[[Env], CacheCase]]] = FREIGHT_CACHES + PEER_CACHES + ROUND2_CACHES
"""(library, backend, factory) for every cache case, in the order they run."""

PEER_PACKAGES = (
    "freight",
    "redis",
    "hiredis",
    "pymemcache",
    "SQLAlchemy",
    "psycopg",
    "rq",
    "dramatiq",
    "huey",
    "celery",
    "kombu",
    "pgqueuer",
    "asyncpg",
    "Django",
    "cachelib",
    "diskcache",
)


Bench = CacheBench | QueueBench


@dataclass
class Run:
    """What one run produced."""

    results: list[Result] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _selected(library: str, backend: str, only: Collection[str] | None) -> bool:
    if not only:
        return True
    names = {library.lower(), backend.lower(), f"{library}:{backend}".lower()}
    return any(choice.lower() in names for choice in only)


def run_suite(
    env: Env,
    *,
    suites: Collection[str] = ("queue", "cache"),
    only: Collection[str] | None = None,
    repeat: int = 1,
    progress: Callable[[str], Any] = print,
) -> Run:
    """Run every selected case against ``env`` in ``repeat`` interleaved rounds (see
    :mod:`benchmarks.rounds`); a case that cannot run is a Skip, one that breaks a failure.

    ``only`` keeps the cases whose library, backend or ``library:backend`` (case-insensitive)
    is listed, such as ``{"freight"}``, ``{"redis"}`` or ``{"freight:sqlite", "pgqueuer"}``.
    """
    run = Run()
    for suite, cases in (("queue", QUEUE_CASES), ("cache", CACHE_CASES)):
        if suite not in suites:
            continue
        benches: list[tuple[str, str, Bench]] = []
        for library, backend, make in cases:
            if not _selected(library, backend, only):
                continue
            try:
                benches.append((library, backend, _open(suite, env, make)))
            except Unavailable as exc:
                run.skips.append(Skip(suite, backend, library, str(exc)))
                progress(f"  skip {suite:5} {library:24} {backend:9} {exc}")
            except BenchError as exc:
                run.failures.append(f"{suite} {library} ({backend}): {exc}")
        benches = _rounds(run, suite, benches, repeat, progress)
        for library, backend, bench in benches:  # check every cache before any closes
            if isinstance(bench, CacheBench):
                try:
                    bench.verify()
                except BenchError as exc:
                    run.failures.append(f"{suite} {library} ({backend}): {exc}")
        for _, _, bench in benches:
            run.results += bench.finish()
    return run


def _rounds(
    run: Run,
    suite: str,
    benches: list[tuple[str, str, Bench]],
    repeat: int,
    progress: Callable[[str], Any],
) -> list[tuple[str, str, Bench]]:
    """Run ``repeat`` interleaved rounds of ``benches``; return the ones that did not fail."""
    names = {id(bench): (library, backend) for library, backend, bench in benches}
    dropped: set[int] = set()

    def failed(bench: Bench, exc: BenchError) -> None:
        library, backend = names[id(bench)]
        run.failures.append(f"{suite} {library} ({backend}): {exc}")
        progress(f"  FAIL {suite:5} {library:24} {backend:9} {exc}")
        dropped.add(id(bench))
        _abort(bench)

    for number in range(1, max(1, repeat) + 1):
        progress(f"  {suite} round {number}/{max(1, repeat)}")
        started = time.perf_counter()
        interleaved_round([bench for _, _, bench in benches], SLICES, failed)
        benches = [entry for entry in benches if id(entry[2]) not in dropped]
        for library, backend, bench in benches:
            done = [(op, bench.n / b.seconds) for op, b in bench.best.items() if b.runs]
            rates = "  ".join(f"{op} {rate:>11,.0f}/s" for op, rate in done)
            progress(f"    {library:24} {backend:9} {rates}")
        progress(f"    ({time.perf_counter() - started:.1f} s)")
    return benches


def _open(suite: str, env: Env, make: Callable[[Env], Any]) -> Bench:
    if suite == "queue":
        target = make(env)
        try:
            return QueueBench(target, env.n, env.workdir)
        except BaseException:
            target.close()
            raise
    case = make(env)
    try:
        return CacheBench(case, env.n)
    except BaseException:
        case.close()
        raise


def _abort(bench: Bench) -> None:
    if isinstance(bench, QueueBench):
        bench.abort()
    else:
        bench.case.close()


def _server_versions(env: Env) -> dict[str, str]:
    versions: dict[str, str] = {}
    if env.redis_url:
        import redis

        client = redis.Redis.from_url(env.redis_url)
        versions["redis"] = str(client.info("server").get("redis_version"))
        client.close()
    if env.postgres_url:
        import sqlalchemy

        engine = sqlalchemy.create_engine(env.postgres_url)
        with engine.connect() as conn:
            versions["postgresql"] = str(conn.execute(sqlalchemy.text("SHOW server_version")).scalar())
        engine.dispose()
    if env.memcached:
        import socket

        host, _, port = env.memcached[0].rpartition(":")
        with socket.create_connection((host, int(port)), timeout=2) as sock:
            sock.sendall(b"version\r\n")
            versions["memcached"] = sock.recv(64).decode().split()[-1]
    import sqlite3

    versions["sqlite"] = sqlite3.sqlite_version
    return versions


def collect_meta(env: Env) -> dict[str, Any]:
    """Where and with what the run happened: machine, load, Python, servers, package versions."""
    packages: dict[str, str | None] = {}
    for name in PEER_PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "n": env.n,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "servers": _server_versions(env),
        "packages": packages,
    }
