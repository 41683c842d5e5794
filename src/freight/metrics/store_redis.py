"""Metrics in the redis server of a queue connection: one hash per minute, with an expiry.

With the connection's prefix ``P`` every key carries the hash tag ``{P:metrics}``, so
the whole set lives in one Redis Cluster slot::

    P:{P:metrics}:m:<minute>   HASH  series -> integer, expires after the retention
    P:{P:metrics}:totals       HASH  all-time counters and the latest gauges
    P:{P:metrics}:workers      HASH  worker id -> heartbeat JSON
    P:{P:metrics}:recent       LIST  recent finished jobs (JSON), newest first, trimmed

A write is one pipeline (no transaction) of HINCRBY/HSET/EXPIRE commands.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from freight.connections import redis_address
from freight.metrics.store import RECENT_KEEP, WORKER_FORGET, Batch, MetricsStore

__all__ = ["RedisMetricsStore", "create"]


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


class RedisMetricsStore(MetricsStore):
    """Per-minute hashes with an expiry on a redis server."""

    def __init__(self, client: Any, prefix: str = "freight", clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock
        self.base = f"{prefix}:{{{prefix}:metrics}}:"
        self.identity = f"redis:{redis_address(client)}:{self.base}"

    def _minute_key(self, minute: int) -> str:
        return f"{self.base}m:{minute}"

    def write(self, counts: Batch, gauges: Batch) -> None:
        """See :meth:`MetricsStore.write`."""
        pipe = self.client.pipeline(transaction=False)
        totals = self.base + "totals"
        minutes: set[int] = set()
        for (minute, series), value in counts.items():
            pipe.hincrby(self._minute_key(minute), series, value)
            pipe.hincrby(totals, series, value)
            minutes.add(minute)
        for (minute, series), value in gauges.items():
            pipe.hset(self._minute_key(minute), series, value)
            pipe.hset(totals, series, value)
            minutes.add(minute)
        for minute in minutes:
            pipe.expireat(self._minute_key(minute), (minute + self.retention + 2) * 60)
        pipe.execute()

    def read(self, first: int, last: int) -> dict[int, dict[str, int]]:
        """See :meth:`MetricsStore.read`."""
        pipe = self.client.pipeline(transaction=False)
        minutes = list(range(first, last + 1))
        for minute in minutes:
            pipe.hgetall(self._minute_key(minute))
        found: dict[int, dict[str, int]] = {}
        for minute, raw in zip(minutes, pipe.execute(), strict=True):
            if raw:
                found[minute] = {_text(k): int(v) for k, v in raw.items()}
        return found

    def totals(self) -> dict[str, int]:
        """See :meth:`MetricsStore.totals`."""
        return {_text(k): int(v) for k, v in self.client.hgetall(self.base + "totals").items()}

    def beat(self, worker_id: str, info: Mapping[str, Any]) -> None:
        """See :meth:`MetricsStore.beat`."""
        self.client.hset(self.base + "workers", worker_id, json.dumps(dict(info), default=str))

    def workers(self) -> list[dict[str, Any]]:
        """See :meth:`MetricsStore.workers`."""
        key = self.base + "workers"
        floor = self.clock() - WORKER_FORGET
        alive: list[tuple[Any, dict[str, Any]]] = []
        stale: list[tuple[Any, dict[str, Any]]] = []
        for worker_id, raw in self.client.hgetall(key).items():
            info = json.loads(raw)
            (alive if float(info.get("seen", 0)) >= floor else stale).append((worker_id, info))
        if stale:
            self.client.hdel(key, *[w for w, _ in stale])
        return sorted((info for _, info in alive), key=lambda w: -float(w.get("seen", 0)))

    def forget_worker(self, worker_id: str) -> None:
        """See :meth:`MetricsStore.forget_worker`."""
        self.client.hdel(self.base + "workers", worker_id)

    def log_jobs(self, records: Sequence[Mapping[str, Any]]) -> None:
        """See :meth:`MetricsStore.log_jobs`."""
        if not records:
            return
        key = self.base + "recent"
        pipe = self.client.pipeline(transaction=False)
        pipe.lpush(key, *[json.dumps(dict(r), default=str) for r in records[-RECENT_KEEP:]])
        pipe.ltrim(key, 0, RECENT_KEEP - 1)
        pipe.execute()

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """See :meth:`MetricsStore.recent`."""
        return [json.loads(r) for r in self.client.lrange(self.base + "recent", 0, limit - 1)]


def create(queue: Any, options: Mapping[str, Any]) -> RedisMetricsStore:
    """The metrics store of a redis queue connection (its client and prefix)."""
    return RedisMetricsStore(
        queue.client, str(options.get("prefix") or getattr(queue, "prefix", "freight")), queue.clock
    )
