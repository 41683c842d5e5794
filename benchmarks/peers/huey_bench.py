"""Huey: calling the task enqueues it; one consumer process with Huey's defaults drains it.

The consumer runs with its defaults (one worker thread, blocking ``BRPOP`` dequeue,
the scheduler thread), logging at WARNING. Huey has no bulk enqueue and removes a task
from Redis when it dequeues it (at-most-once), so the drain ends when the last task has
run. The no-op returns None, which Huey does not store as a result.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from benchmarks.harness import QueueTarget, Unavailable, python_module
from benchmarks.marker import mark
from benchmarks.servers import Env

__all__ = ["HueyTarget"]


def _noop(i: int) -> None:
    mark()


def build(url: str, name: str) -> tuple[Any, Any]:
    """A RedisHuey named ``name`` and its no-op task."""
    from huey import RedisHuey

    huey = RedisHuey(name, url=url)
    return huey, huey.task(name="fbench_noop")(_noop)


class HueyTarget(QueueTarget):
    """Huey's RedisHuey on the benchmark Redis."""

    library = "Huey"
    backend = "redis"

    def __init__(self, env: Env) -> None:
        try:
            import huey  # noqa: F401
        except ImportError as exc:
            raise Unavailable("huey is not installed (pip install -e '.[bench]')") from exc
        if env.redis_url is None:
            raise Unavailable(env.reason("redis"))
        self.url, self.name = env.redis_url, f"{env.prefix}-huey"
        self.huey, self.task = build(self.url, self.name)

    def push_all(self, n: int) -> None:
        task = self.task
        for i in range(n):
            task(i)

    def outstanding(self) -> int:
        return int(self.huey.pending_count())

    def clear(self) -> None:
        self.huey.flush()

    def worker_command(self) -> list[str]:
        return python_module(__name__, self.url, self.name)


def main(url: str, name: str) -> None:
    """Run one Huey consumer with default options until SIGTERM."""
    logging.basicConfig(level=logging.WARNING)
    huey, _ = build(url, name)
    huey.create_consumer().run()


if __name__ == "__main__":
    # run the module's functions under its importable name, as the jobs are registered
    from benchmarks.peers.huey_bench import main as _main

    _main(*sys.argv[1:3])
