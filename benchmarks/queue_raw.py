"""The redis-py floor: the least a reliable Redis queue must do, with nothing else around it.

* push: one ``LPUSH`` of a JSON payload carrying an id, the job name and its argument;
* bulk: one ``LPUSH`` with ``chunk`` payloads;
* drain (``python -m benchmarks.queue_raw URL KEY``): per job one ``LMOVE`` from the
  queue to a processing list (the reservation), ``json.loads``, the job, and one
  ``LREM`` from the processing list (the acknowledgement), until the queue is empty.

No retry bookkeeping, no reservation deadline, no heartbeat: any real queue does more.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

from benchmarks.harness import QueueTarget, Unavailable, python_module
from benchmarks.marker import mark
from benchmarks.servers import Env

__all__ = ["RawRedisTarget"]


def payload(i: int) -> str:
    """The job payload: an id, the job name and its argument."""
    return json.dumps({"id": uuid.uuid4().hex, "job": "noop", "args": [i]})


class RawRedisTarget(QueueTarget):
    """LPUSH / LMOVE + LREM with redis-py."""

    library = "raw redis-py"
    backend = "redis"
    has_bulk = True
    exits_when_empty = True

    def __init__(self, env: Env) -> None:
        if env.redis_url is None:
            raise Unavailable(env.reason("redis"))
        try:
            import redis
        except ImportError as exc:
            raise Unavailable("redis-py is not installed (pip install 'freight[redis]')") from exc
        self.url, self.key = env.redis_url, f"{env.prefix}:raw:queue"
        self.client: Any = redis.Redis.from_url(self.url)

    def push_all(self, n: int) -> None:
        lpush, key = self.client.lpush, self.key
        for i in range(n):
            lpush(key, payload(i))

    def bulk_all(self, n: int, chunk: int) -> None:
        for start in range(0, n, chunk):
            self.client.lpush(self.key, *[payload(i) for i in range(start, min(n, start + chunk))])

    def outstanding(self) -> int:
        return int(self.client.llen(self.key)) + int(self.client.llen(self.key + ":processing"))

    def clear(self) -> None:
        self.client.delete(self.key, self.key + ":processing")

    def worker_command(self) -> list[str]:
        return python_module(__name__, self.url, self.key)

    def close(self) -> None:
        self.client.close()


def main(url: str, key: str) -> None:
    """Reserve, run and acknowledge jobs one at a time until ``key`` is empty."""
    import redis

    client = redis.Redis.from_url(url)
    processing = key + ":processing"
    lmove, lrem, loads = client.lmove, client.lrem, json.loads
    while True:
        raw: Any = lmove(key, processing, "RIGHT", "LEFT")
        if raw is None:
            break
        loads(raw)
        mark()
        lrem(processing, 1, raw)


if __name__ == "__main__":
    from benchmarks.queue_raw import main as _main

    _main(*sys.argv[1:3])
