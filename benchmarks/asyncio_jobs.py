"""``python -m benchmarks.asyncio_jobs``: draining ``async def handle()`` jobs with ``--concurrency``.

    python -m benchmarks.asyncio_jobs [--jobs 1000] [--sleep 0.1] [--concurrency 100]
                                      [--serial-jobs 50] [--redis redis://127.0.0.1:6379/0]

Each job awaits ``asyncio.sleep(sleep)``. The jobs are pushed on a redis connection of
their own, then one in-process worker (``stop_when_empty``) drains them, timed from
its start to its exit. The ``--concurrency 1`` side runs ``--serial-jobs`` jobs (it
takes ``sleep`` seconds per job) and its time is extrapolated linearly to ``--jobs``;
pass ``--serial-jobs`` equal to ``--jobs`` to measure it in full.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from dataclasses import dataclass

from freight.queue.job import Job

__all__ = ["DrainFigures", "Sleeper", "measure"]

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


class Sleeper(Job):
    """Awaits ``data['s']`` seconds."""

    async def handle(self) -> None:
        await asyncio.sleep(self.data["s"])


@dataclass
class DrainFigures:
    """Seconds to drain ``jobs`` jobs at ``concurrency``, and at 1 (measured on ``serial_jobs``)."""

    jobs: int
    concurrency: int
    concurrent_seconds: float
    serial_jobs: int
    serial_seconds: float

    @property
    def serial_extrapolated(self) -> float:
        """The ``--concurrency 1`` time scaled to ``jobs``."""
        return self.serial_seconds * self.jobs / self.serial_jobs

    @property
    def speedup(self) -> float:
        """How many times faster the concurrent drain is."""
        return self.serial_extrapolated / self.concurrent_seconds

    def lines(self) -> list[str]:
        """A short human report."""
        return [
            f"{self.jobs} jobs at --concurrency {self.concurrency}: {self.concurrent_seconds:.2f} s "
            f"({self.jobs / self.concurrent_seconds:,.0f} jobs/s)",
            f"{self.serial_jobs} jobs at --concurrency 1: {self.serial_seconds:.2f} s, "
            f"so {self.jobs} would take {self.serial_extrapolated:.1f} s",
            f"speed-up: {self.speedup:.0f}x",
        ]


def _drain(url: str, jobs: int, sleep: float, concurrency: int) -> float:
    from freight.queue.manager import QueueManager
    from freight.queue.worker import Worker

    name = f"bench-async-{uuid.uuid4().hex[:8]}"
    conn = {"driver": "redis", "url": url, "prefix": name, "queue": "default", "retry_after": 90}
    manager = QueueManager({"default": "r", "connections": {"r": conn}, "failed": {"driver": "null"}})
    try:
        manager.bulk([Sleeper(s=sleep) for _ in range(jobs)])
        worker = Worker(manager, stop_when_empty=True, sleep=0.05, memory=0, concurrency=concurrency)
        started = time.perf_counter()
        worker.run()
        seconds = time.perf_counter() - started
        if worker.processed != jobs or manager.size() != 0:
            raise RuntimeError(f"drained {worker.processed} of {jobs} jobs")
        return seconds
    finally:
        manager.connection().clear()
        manager.purge()


def measure(
    url: str = DEFAULT_REDIS,
    jobs: int = 1000,
    sleep: float = 0.1,
    concurrency: int = 100,
    serial_jobs: int = 50,
) -> DrainFigures:
    """Drain ``jobs`` at ``concurrency`` and ``serial_jobs`` at 1."""
    concurrent = _drain(url, jobs, sleep, concurrency)
    serial = _drain(url, serial_jobs, sleep, 1)
    return DrainFigures(jobs, concurrency, concurrent, serial_jobs, serial)


def main() -> None:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.asyncio_jobs", description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--sleep", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--serial-jobs", type=int, default=50)
    parser.add_argument("--redis", default=os.environ.get("FREIGHT_BENCH_REDIS_URL", DEFAULT_REDIS))
    args = parser.parse_args()
    # run as __main__, Sleeper would be named "__main__:Sleeper", which a worker cannot import
    from benchmarks.asyncio_jobs import measure

    figures = measure(args.redis, args.jobs, args.sleep, args.concurrency, args.serial_jobs)
    for line in figures.lines():
        print(line)


if __name__ == "__main__":
    main()
