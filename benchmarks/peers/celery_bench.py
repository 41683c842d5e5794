"""Celery: ``task.delay`` per job, drained by one worker with the solo pool on the Redis broker.

The worker runs ``--pool=solo`` (jobs run in the worker process itself), with results
ignored, logging at WARNING, and without gossip, mingle, the event heartbeat and remote
control (the usual advice for Redis brokers; they only add broker traffic). Celery acknowledges a
message before running it by default; a message counts as outstanding while it is in
the queue list or the ``unacked`` hash. Celery has no bulk enqueue call.
"""

from __future__ import annotations

import sys
from typing import Any

from benchmarks.harness import QueueTarget, Unavailable, python_module
from benchmarks.marker import mark
from benchmarks.servers import Env

__all__ = ["CeleryTarget"]


def _noop(i: int) -> None:
    mark()


def build(url: str, queue: str) -> tuple[Any, Any]:
    """A Celery app on the Redis broker at ``url`` and its no-op task routed to ``queue``."""
    from celery import Celery

    app = Celery("fbench", broker=url)
    app.conf.update(
        task_default_queue=queue,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_enable_remote_control=False,  # no pidbox exchange: no broadcast traffic, no leftover keys
    )
    return app, app.task(name="fbench.noop")(_noop)


class CeleryTarget(QueueTarget):
    """Celery with the Redis broker on the benchmark Redis."""

    library = "Celery"
    backend = "redis"

    def __init__(self, env: Env) -> None:
        try:
            import celery  # noqa: F401
            import redis
        except ImportError as exc:
            raise Unavailable("celery is not installed (pip install -e '.[bench]')") from exc
        if env.redis_url is None:
            raise Unavailable(env.reason("redis"))
        self.url, self.queue = env.redis_url, f"{env.prefix}-celery"
        self.app, self.task = build(self.url, self.queue)
        self.redis: Any = redis.Redis.from_url(self.url)

    def push_all(self, n: int) -> None:
        delay = self.task.delay
        for i in range(n):
            delay(i)

    def outstanding(self) -> int:
        return int(self.redis.llen(self.queue)) + int(self.redis.hlen("unacked"))

    def clear(self) -> None:
        self.redis.delete(self.queue)

    def worker_command(self) -> list[str]:
        return python_module(__name__, self.url, self.queue)

    def close(self) -> None:
        self.app.close()
        self.redis.close()


def main(url: str, queue: str) -> None:
    """Run one solo-pool Celery worker on ``queue`` until SIGTERM."""
    app, _ = build(url, queue)
    app.worker_main(
        [
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            f"--queues={queue}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )


if __name__ == "__main__":
    # run the module's functions under its importable name, as the jobs are registered
    from benchmarks.peers.celery_bench import main as _main

    _main(*sys.argv[1:3])
