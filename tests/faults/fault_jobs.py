"""Jobs the fault tests run in real worker processes.

Each records what happened (``start``/``done`` with its ``id`` and the worker's pid) in
the completion sink named by ``FAULT_SINK`` (``redis|URL|KEY`` or ``sql|URL|TABLE``),
apart from the queue under test, so a test can count completions and duplicates.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import signal
import time
from typing import Any

from freight.queue.job import Job

_writer: Any = None


class _RedisWriter:
    def __init__(self, url: str, key: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=5)
        self.key = key

    def record(self, event: str, record: dict[str, Any]) -> None:
        self.client.rpush(f"{self.key}:{event}", json.dumps(record))


class _SqlWriter:
    def __init__(self, url: str, table: str) -> None:
        import sqlalchemy as sa

        self.engine = sa.create_engine(url, pool_pre_ping=True, isolation_level="AUTOCOMMIT")
        self.sql = sa.text(f"INSERT INTO {table} (id, event, pid, at) VALUES (:id, :event, :pid, :at)")

    def record(self, event: str, record: dict[str, Any]) -> None:
        with self.engine.connect() as conn:
            conn.execute(self.sql, record)


def record(event: str, job_id: str) -> None:
    """Append ``event`` for ``job_id`` to the sink (committed before this returns)."""
    global _writer
    if _writer is None:
        kind, url, name = os.environ["FAULT_SINK"].split("|", 2)
        _writer = _RedisWriter(url, name) if kind == "redis" else _SqlWriter(url, name)
    _writer.record(event, {"id": job_id, "event": event, "pid": os.getpid(), "at": time.time()})


class Record(Job):
    """Records ``done`` once it ran; ``data['work']`` seconds of sleep first (default none)."""

    tries = 5
    timeout = 30

    def handle(self) -> None:
        work = float(self.data.get("work", 0))
        if work:
            time.sleep(work)
        record("done", str(self.data["id"]))


class Slow(Job):
    """Records ``start``, sleeps ``data['seconds']``, records ``done`` (a redelivery would run it again)."""

    tries = 3
    timeout = 60

    def handle(self) -> None:
        record("start", str(self.data["id"]))
        time.sleep(float(self.data["seconds"]))
        record("done", str(self.data["id"]))


class StuckInPython(Job):
    """Spins in pure Python forever; a soft timeout can interrupt it."""

    tries = 1
    timeout = 1

    def handle(self) -> None:
        record("start", str(self.data["id"]))
        n = 0
        while True:
            n += 1


class StuckInC(Job):
    """Blocks inside C code that never returns to the interpreter.

    ``mode='cpu'``: PBKDF2 with an absurd iteration count (OpenSSL, GIL released, no
    signal checks). ``mode='sleep'``: libc ``sleep()`` through ctypes with SIGALRM blocked
    in this thread, as a C library that masks signals would.
    """

    tries = 1
    timeout = 1

    def handle(self) -> None:
        record("start", str(self.data["id"]))
        if self.data.get("mode") == "sleep":
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            ctypes.CDLL(None).sleep(60)
        else:
            hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 2**31 - 1)
        record("done", str(self.data["id"]))


class NeedsKeys(Job):
    """Expects ``data['a']`` and ``data['b']`` to be integers."""

    tries = 1

    def handle(self) -> None:
        record("done", str(int(self.data["a"]) + int(self.data["b"])))
