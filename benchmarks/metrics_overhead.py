"""What metrics recording costs a redis drain: the same worker with recording on and off.

    python -m benchmarks.metrics_overhead [--n 10000] [--rounds 5] [--url redis://127.0.0.1:6379/0]

Each round pushes ``n`` no-op jobs with ``bulk`` (not timed), then times an in-process
``Worker(..., stop_when_empty=True).run()`` draining them, with ``metrics=False`` and
``metrics=True`` in turn (the order alternates from round to round, so drift of a shared
machine lands on both). It prints jobs/s per round, the medians and their ratio; issue
18 asks for on/off >= 0.95. Keys live under a run prefix and are deleted afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Sequence

from freight import Job, QueueManager, Worker

__all__ = ["Noop", "drain", "main"]


class Noop(Job):
    """The no-op job."""

    def handle(self) -> None:
        """Do nothing."""


def drain(manager: QueueManager, n: int, metrics: bool) -> float:
    """Jobs per second of one drain of ``n`` no-op jobs."""
    queue = manager.connection()
    for start in range(0, n, 5000):
        queue.bulk([Noop() for _ in range(min(5000, n - start))])
    worker = Worker(manager, stop_when_empty=True, sleep=0, metrics=metrics)
    began = time.perf_counter()
    worker.run()
    elapsed = time.perf_counter() - began
    if worker.processed != n:
        raise SystemExit(f"drained {worker.processed} jobs, expected {n}")
    return n / elapsed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metrics_overhead")
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    prefix = f"bench-metrics-{uuid.uuid4().hex[:8]}"
    manager = QueueManager(
        {
            "default": "redis",
            "connections": {"redis": {"driver": "redis", "url": args.url, "prefix": prefix}},
            "failed": {"driver": "null"},
        }
    )
    results: dict[bool, list[float]] = {False: [], True: []}
    try:
        drain(manager, min(args.n, 2000), True)  # warm-up: imports, scripts, tables
        for index in range(args.rounds):
            for metrics in (False, True) if index % 2 == 0 else (True, False):
                rate = drain(manager, args.n, metrics)
                results[metrics].append(rate)
                print(
                    f"round {index + 1}: metrics {'on ' if metrics else 'off'} {rate:9.0f} jobs/s", flush=True
                )
    finally:
        client = manager.connection().client  # type: ignore[attr-defined]
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        manager.purge()
    off, on = statistics.median(results[False]), statistics.median(results[True])
    print(f"median: off {off:.0f} jobs/s, on {on:.0f} jobs/s, on/off = {on / off:.3f} (target >= 0.95)")
    return 0


if __name__ == "__main__":  # run the imported module, so payloads name an importable Noop
    from benchmarks.metrics_overhead import main as imported_main

    raise SystemExit(imported_main())
