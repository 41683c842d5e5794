"""Completion sinks: where fault jobs record that they ran, apart from the queue under test.

A worker finds its sink in ``FAULT_SINK`` (``redis|URL|KEY`` or ``sql|URL|TABLE``, written
by :mod:`fault_jobs`); the test reads it through these classes to count completions and
duplicates. Each sink removes what it created in :meth:`Sink.close`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


class Sink:
    """Reads the completions fault jobs recorded (``FAULT_SINK`` in the worker's env)."""

    spec: str

    def records(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def ids(self, event: str = "done") -> list[str]:
        return [r["id"] for r in self.records() if r["event"] == event]

    def count(self, event: str = "done") -> int:
        return len(self.ids(event))


class RedisSink(Sink):
    """One redis list per event, ``<key>:<event>``, of JSON records (duplicates are kept)."""

    def __init__(self, url: str, key: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.key = key
        self.spec = f"redis|{url}|{key}"

    def records(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name in self.client.scan_iter(match=f"{self.key}:*", count=1000):
            out.extend(json.loads(r) for r in self.client.lrange(name, 0, -1))
        return out

    def ids(self, event: str = "done") -> list[str]:
        return [json.loads(r)["id"] for r in self.client.lrange(f"{self.key}:{event}", 0, -1)]

    def count(self, event: str = "done") -> int:
        return int(self.client.llen(f"{self.key}:{event}"))

    def close(self) -> None:
        names = list(self.client.scan_iter(match=f"{self.key}:*", count=1000))
        if names:
            self.client.delete(*names)
        self.client.close()


class SqlSink(Sink):
    """A table ``<table>(seq, id, event, pid)`` created by the test and dropped after it."""

    def __init__(self, url: str, table: str) -> None:
        import sqlalchemy as sa

        self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self.table = table
        self.spec = f"sql|{url}|{table}"
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    f"CREATE TABLE {table} (id VARCHAR(64) NOT NULL, event VARCHAR(16) NOT NULL, "
                    "pid INTEGER NOT NULL, at DOUBLE PRECISION NOT NULL)"
                )
            )

    def records(self) -> list[dict[str, Any]]:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(f"SELECT id, event, pid, at FROM {self.table}")).all()
        return [{"id": r[0], "event": r[1], "pid": r[2], "at": r[3]} for r in rows]

    def count(self, event: str = "done") -> int:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            sql = f"SELECT COUNT(*) FROM {self.table} WHERE event = :e"
            return int(conn.execute(sa.text(sql), {"e": event}).scalar_one())

    def close(self) -> None:
        import sqlalchemy as sa

        with self.engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {self.table}"))
        self.engine.dispose()


def duplicates(ids: Sequence[str]) -> int:
    """How many entries of ``ids`` repeat an earlier one."""
    return len(ids) - len(set(ids))
