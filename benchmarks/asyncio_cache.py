"""``python -m benchmarks.asyncio_cache``: freight's ``aget``/``aput`` on redis against raw ``redis.asyncio``.

    python -m benchmarks.asyncio_cache [--n 5000] [--rounds 5] [--redis redis://127.0.0.1:6379/0]

One task awaits ``n`` sequential calls per measurement (the latency path, as a request
handler sees it); freight and the raw client alternate in interleaved rounds and the
fastest round of each is kept. Both write the same short string value under keys of a
run-specific prefix, which is deleted afterwards. The raw client sends pre-encoded bytes;
freight encodes with its default JSON codec, so its figure includes that work.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["AsyncCacheFigures", "measure"]

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


@dataclass
class AsyncCacheFigures:
    """Operations per second of each side, and freight's cost relative to the raw client."""

    n: int
    raw_put: float
    raw_get: float
    freight_put: float
    freight_get: float

    @property
    def put_ratio(self) -> float:
        """Raw rate / freight rate for puts (1.0: as fast as the raw client)."""
        return self.raw_put / self.freight_put

    @property
    def get_ratio(self) -> float:
        """Raw rate / freight rate for gets."""
        return self.raw_get / self.freight_get

    def lines(self) -> list[str]:
        """A short human report."""
        return [
            f"n={self.n} sequential awaits per round, best round kept",
            f"put: raw redis.asyncio {self.raw_put:,.0f}/s, freight aput {self.freight_put:,.0f}/s "
            f"-> freight costs {self.put_ratio:.2f}x",
            f"get: raw redis.asyncio {self.raw_get:,.0f}/s, freight aget {self.freight_get:,.0f}/s "
            f"-> freight costs {self.get_ratio:.2f}x",
        ]


async def _rate(n: int, op: Callable[[int], Awaitable[object]]) -> float:
    started = time.perf_counter()
    for i in range(n):
        await op(i)
    return n / (time.perf_counter() - started)


async def _measure(url: str, n: int, rounds: int) -> AsyncCacheFigures:
    import redis.asyncio as aioredis

    from freight import CacheManager

    prefix = f"bench-async-{uuid.uuid4().hex[:8]}"
    raw = aioredis.Redis.from_url(url)
    stores = {"r": {"driver": "redis", "url": url}}
    manager = CacheManager({"default": "r", "prefix": prefix, "stores": stores})
    cache = manager.store()
    raw_keys = [f"{prefix}-raw:{i}".encode() for i in range(n)]
    keys = [f"k{i}" for i in range(n)]
    value, encoded = "a short cached value", b'"a short cached value"'
    best = {"raw_put": 0.0, "raw_get": 0.0, "freight_put": 0.0, "freight_get": 0.0}
    try:
        sides: dict[str, Callable[[int], Awaitable[object]]] = {
            "raw_put": lambda i: raw.set(raw_keys[i], encoded),
            "freight_put": lambda i: cache.aput(keys[i], value),
            "raw_get": lambda i: raw.get(raw_keys[i]),
            "freight_get": lambda i: cache.aget(keys[i]),
        }
        for _ in range(rounds):
            for name, op in sides.items():
                best[name] = max(best[name], await _rate(n, op))
        assert await cache.aget(keys[-1]) == value
    finally:
        await raw.delete(*raw_keys)
        await asyncio.to_thread(cache.flush)
        await raw.aclose()
        await cache.aclose()
        manager.purge()
    return AsyncCacheFigures(n, **best)


def measure(url: str = DEFAULT_REDIS, n: int = 5000, rounds: int = 5) -> AsyncCacheFigures:
    """Run the comparison on a fresh event loop."""
    return asyncio.run(_measure(url, n, rounds))


def main() -> None:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.asyncio_cache", description=__doc__)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", default=os.environ.get("FREIGHT_BENCH_REDIS_URL", DEFAULT_REDIS))
    args = parser.parse_args()
    for line in measure(args.redis, args.n, args.rounds).lines():
        print(line)


if __name__ == "__main__":
    main()
