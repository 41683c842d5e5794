"""The performance targets of issue 7, checked against one run's results.

Each check names the target, the measured value (a rate or a ratio against the baseline
measured in the same run) and whether it was met; a check whose inputs did not run is
reported as not measured (``ok`` None) rather than passed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.harness import Result

__all__ = ["Check", "evaluate"]

REDIS_PEERS = ("RQ", "Dramatiq", "Huey", "Celery")


@dataclass
class Check:
    """One target: what it asks, what was measured, whether it was met (None: not measured)."""

    target: str
    measured: str
    ok: bool | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


class _Rates:
    def __init__(self, results: list[Result]) -> None:
        self._by = {(r.suite, r.backend, r.library, r.operation): r.rate for r in results}

    def __call__(self, suite: str, backend: str, library: str, operation: str) -> float | None:
        return self._by.get((suite, backend, library, operation))


def _fmt(rate: float) -> str:
    return f"{rate:,.0f}/s"


def _at_least(target: str, rate: float | None, floor: float) -> Check:
    if rate is None:
        return Check(target, "not measured", None)
    return Check(target, _fmt(rate), rate >= floor)


def _ratio(target: str, ours: float | None, theirs: float | None, factor: float, name: str) -> Check:
    if ours is None or theirs is None:
        return Check(target, "not measured", None)
    ratio = ours / theirs
    return Check(target, f"{ratio:.2f}x {name} ({_fmt(ours)} vs {_fmt(theirs)})", ratio >= factor)


def _queue_checks(rate: _Rates) -> list[Check]:
    drain = rate("queue", "redis", "freight", "drain")
    peers = {p: rate("queue", "redis", p, "drain") for p in REDIS_PEERS}
    measured = {p: r for p, r in peers.items() if r is not None}
    best = max(measured, key=lambda p: measured[p]) if measured else None
    pg = rate("queue", "postgres", "freight", "drain")
    checks = [
        _at_least("redis drain >= 10,000 jobs/s (one worker process)", drain, 10_000),
        _ratio(
            "redis drain >= 5x the fastest peer", drain, measured.get(best) if best else None, 5, str(best)
        ),
        _ratio(
            "redis push >= 0.9x raw LPUSH",
            rate("queue", "redis", "freight", "push"),
            rate("queue", "redis", "raw redis-py", "push"),
            0.9,
            "raw LPUSH",
        ),
        _at_least("redis bulk >= 50,000 jobs/s", rate("queue", "redis", "freight", "bulk"), 50_000),
        _at_least("PostgreSQL drain >= 6,000 jobs/s", pg, 6_000),
        _ratio(
            "PostgreSQL drain ahead of pgqueuer",
            pg,
            rate("queue", "postgres", "pgqueuer", "drain"),
            1.0,
            "pgqueuer",
        ),
        _ratio(
            "PostgreSQL push ahead of pgqueuer's single enqueue",
            rate("queue", "postgres", "freight", "push"),
            rate("queue", "postgres", "pgqueuer", "push"),
            1.0,
            "pgqueuer",
        ),
        _at_least("SQLite drain >= 2,000 jobs/s", rate("queue", "sqlite", "freight", "drain"), 2_000),
    ]
    return checks


def _cache_checks(rate: _Rates) -> list[Check]:
    checks: list[Check] = []
    for backend, raw in (("redis", "raw redis-py"), ("memcached", "raw pymemcache")):
        for op in ("put", "get"):
            checks.append(
                _ratio(
                    f"{backend} cache {op} >= 0.85x {raw} (same codec)",
                    rate("cache", backend, "freight", op),
                    rate("cache", backend, raw, op),
                    0.85,
                    raw,
                )
            )
    file_put = rate("cache", "file", "freight", "put")
    file_get = rate("cache", "file", "freight", "get")
    diskcache_put = rate("cache", "file", "diskcache", "put")
    diskcache_get = rate("cache", "file", "diskcache", "get")
    checks.append(_ratio("file put >= diskcache set", file_put, diskcache_put, 1.0, "diskcache"))
    checks.append(_ratio("file get >= 0.7x diskcache get", file_get, diskcache_get, 0.7, "diskcache"))
    for op, ours in (("put", file_put), ("get", file_get)):
        django = rate("cache", "file", "Django FileBasedCache", op)
        target = f"file {op} far ahead of Django FileBasedCache (>= 2x)"
        checks.append(_ratio(target, ours, django, 2.0, "Django FileBasedCache"))
    for op in ("put", "get"):
        checks.append(
            _ratio(
                f"array {op} >= 0.8x Django LocMemCache",
                rate("cache", "memory", "freight", op),
                rate("cache", "memory", "Django LocMemCache", op),
                0.8,
                "LocMemCache",
            )
        )
    return checks


def _round2_checks(rate: _Rates) -> list[Check]:
    """Issue 13: tags, remember and the hot path against the fastest peer of each backend."""
    plain_get = rate("cache", "redis", "freight", "get")
    checks = [
        _ratio(
            "tagged get on redis costs <= 1.3x a plain get",
            rate("cache", "redis", "freight tagged", "get"),
            plain_get,
            1 / 1.3,
            "plain get",
        )
    ]
    for backend in ("redis", "memory"):
        checks.append(
            _ratio(
                f"remember on a hit costs <= 1.05x get ({backend})",
                rate("cache", backend, "freight remember", "get"),
                rate("cache", backend, "freight", "get"),
                1 / 1.05,
                "get",
            )
        )
    locked = rate("cache", "redis", "freight remember miss", "get")
    unlocked = rate("cache", "redis", "freight remember miss, no lock", "get")
    if locked is not None and unlocked is not None:
        overhead = f"{unlocked / locked:.2f}x the time of lock=False ({_fmt(locked)} vs {_fmt(unlocked)})"
        checks.append(Check("single-flight overhead on a miss, redis (reported)", overhead, True))
    peers = {
        "redis": ("raw redis-py", "cachelib RedisCache", "Django RedisCache"),
        "memory": ("cachelib SimpleCache", "Django LocMemCache"),
        "file": ("diskcache", "cachelib FileSystemCache", "Django FileBasedCache"),
        "memcached": ("raw pymemcache", "Django PyMemcacheCache"),
        "sqlite": ("Django DatabaseCache",),
        "postgres": ("Django DatabaseCache",),
    }
    for backend, names in peers.items():
        for op in ("put", "get"):
            ours = rate("cache", backend, "freight", op)
            measured = {
                n: r for n in names if (r := rate("cache", backend, n, op)) is not None and "raw" not in n
            }
            if measured:
                best = max(measured, key=lambda n: measured[n])
                checks.append(
                    _ratio(f"{backend} {op} >= 1.0x the fastest peer", ours, measured[best], 1.0, best)
                )
            raw = next((n for n in names if "raw" in n), None)
            if raw:
                checks.append(
                    _ratio(f"{backend} {op} >= 0.95x {raw}", ours, rate("cache", backend, raw, op), 0.95, raw)
                )
    return checks


def evaluate(results: list[Result], memory: tuple[int, float] | None = None) -> list[Check]:
    """Every target of issue 7 against ``results`` and ``memory`` (jobs, RSS growth as a fraction)."""
    rate = _Rates(results)
    checks = _queue_checks(rate) + _cache_checks(rate) + _round2_checks(rate)
    if memory is None:
        checks.append(Check("worker RSS grows < 10% over 100,000 jobs", "not measured", None))
    else:
        jobs, growth = memory
        checks.append(Check(f"worker RSS grows < 10% over {jobs:,} jobs", f"{growth:+.1%}", growth < 0.10))
    return checks
