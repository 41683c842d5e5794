"""Dramatiq: ``actor.send`` per job, drained by one worker process with its default 8 threads.

Dramatiq has no bulk enqueue (``group(...).run()`` sends one message at a time), so it
has no ``bulk`` row. The worker is ``dramatiq.Worker`` with its defaults (8 threads,
prefetch 2 per thread, the default middleware) in a single process; the CLI would add
a supervisor process that runs no job. A message counts as outstanding until it is
acknowledged (it stays in the queue's ``.msgs`` hash until then).
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from benchmarks.harness import QueueTarget, Unavailable, python_module
from benchmarks.marker import mark
from benchmarks.servers import Env

__all__ = ["DramatiqTarget"]


def _noop(i: int) -> None:
    mark()


def build(url: str, namespace: str, queue: str) -> tuple[Any, Any]:
    """A Redis broker under ``namespace`` and the no-op actor on ``queue``."""
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=url, namespace=namespace)  # type: ignore[no-untyped-call]
    dramatiq.set_broker(broker)
    actor = dramatiq.actor(actor_name="fbench_noop", queue_name=queue, broker=broker)(_noop)
    return broker, actor


class DramatiqTarget(QueueTarget):
    """Dramatiq's RedisBroker on the benchmark Redis."""

    library = "Dramatiq"
    backend = "redis"

    def __init__(self, env: Env) -> None:
        try:
            import dramatiq  # noqa: F401
        except ImportError as exc:
            raise Unavailable("dramatiq is not installed (pip install -e '.[bench]')") from exc
        if env.redis_url is None:
            raise Unavailable(env.reason("redis"))
        self.url, self.namespace, self.queue = env.redis_url, f"{env.prefix}-dramatiq", f"{env.prefix}-dq"
        self.broker, self.actor = build(self.url, self.namespace, self.queue)

    def push_all(self, n: int) -> None:
        send = self.actor.send
        for i in range(n):
            send(i)

    def outstanding(self) -> int:
        return int(self.broker.client.hlen(f"{self.namespace}:{self.queue}.msgs"))

    def clear(self) -> None:
        self.broker.flush(self.queue)

    def worker_command(self) -> list[str]:
        return python_module(__name__, self.url, self.namespace, self.queue)

    def close(self) -> None:
        self.broker.close()


def main(url: str, namespace: str, queue: str) -> None:
    """Run one dramatiq Worker (default threads) until SIGTERM."""
    import logging

    from dramatiq import Worker

    logging.basicConfig(level=logging.WARNING)
    broker, _ = build(url, namespace, queue)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker = Worker(broker, queues={queue})
    worker.start()
    stop.wait()
    worker.stop()
    broker.close()


if __name__ == "__main__":
    # run the module's functions under its importable name, as the jobs are registered
    from benchmarks.peers.dramatiq_bench import main as _main

    _main(*sys.argv[1:4])
