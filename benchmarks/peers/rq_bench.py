"""RQ: ``Queue.enqueue`` / ``Queue.enqueue_many``, drained by one ``SimpleWorker`` in burst mode.

``SimpleWorker`` runs jobs in the worker process (RQ's default ``Worker`` forks once
per job, which caps it near 150 jobs/s). Results are not kept (``result_ttl=0``) so
that RQ deletes each job hash when it finishes, as freight does.
"""

from __future__ import annotations

import sys
from typing import Any

from benchmarks.harness import QueueTarget, Unavailable, python_module
from benchmarks.marker import mark
from benchmarks.servers import Env

__all__ = ["RQTarget", "noop"]


def noop(i: int) -> None:
    """The no-op job."""
    mark()


class RQTarget(QueueTarget):
    """RQ on the benchmark Redis."""

    library = "RQ"
    backend = "redis"
    has_bulk = True
    exits_when_empty = True

    def __init__(self, env: Env) -> None:
        try:
            import redis
            import rq
        except ImportError as exc:
            raise Unavailable("rq is not installed (pip install -e '.[bench]')") from exc
        if env.redis_url is None:
            raise Unavailable(env.reason("redis"))
        self.url = env.redis_url
        self.name = f"{env.prefix}-rq"
        self.rq: Any = rq
        self.queue: Any = rq.Queue(self.name, connection=redis.Redis.from_url(env.redis_url))

    def push_all(self, n: int) -> None:
        enqueue = self.queue.enqueue
        for i in range(n):
            enqueue(noop, i, result_ttl=0)

    def bulk_all(self, n: int, chunk: int) -> None:
        prepare = self.rq.Queue.prepare_data
        for start in range(0, n, chunk):
            batch = [prepare(noop, (i,), result_ttl=0) for i in range(start, min(n, start + chunk))]
            self.queue.enqueue_many(batch)

    def outstanding(self) -> int:
        return int(self.queue.count) + int(self.queue.started_job_registry.count)

    def clear(self) -> None:
        self.queue.empty()

    def worker_command(self) -> list[str]:
        return python_module(__name__, self.url, self.name)

    def close(self) -> None:
        # RQ's other keys carry the queue name (deleted by the run) or expire by themselves
        connection = self.queue.connection
        connection.srem("rq:queues", self.queue.key)
        if connection.scard("rq:queues") == 0:
            connection.delete("rq:queues")
        connection.close()


def main(url: str, name: str) -> None:
    """Run one SimpleWorker in burst mode on queue ``name``."""
    import redis
    from rq import Queue, SimpleWorker

    connection = redis.Redis.from_url(url)
    worker = SimpleWorker([Queue(name, connection=connection)], connection=connection)
    worker.work(burst=True, logging_level="WARNING")


if __name__ == "__main__":
    # run the module's functions under its importable name, as the jobs are registered
    from benchmarks.peers.rq_bench import main as _main

    _main(*sys.argv[1:3])
