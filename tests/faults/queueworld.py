"""One queue connection under test, seen from outside the worker: its config file, a
producer, its reservations, its failed-job store, and the cleanup of what it created.

Kinds: ``redis`` (any redis URL, e.g. a private server), ``postgres``, ``mariadb`` and
``sqlite``. Queue and table names derive from the test's ``unique`` name, so nothing is
shared with other tests; tables and keys are removed at :meth:`World.close`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from faultkit import write_config

from freight.queue.drivers.base import Queue
from freight.queue.failed import FailedJob, FailedJobStore, make_failed_store
from freight.queue.job import Job

CONNECTION = "under_test"


class World:
    """A queue connection named ``under_test`` on one backend, plus a SQLite failed store."""

    def __init__(
        self,
        kind: str,
        url: str,
        unique: str,
        tmp_path: Path,
        *,
        retry_after: float = 60,
        key: str | None = None,
        worker_url: str | None = None,
    ) -> None:
        self.kind = kind
        self.url = url
        self.queue = f"{unique}_q"
        self.table = f"{unique}_jobs"
        self.tmp_path = tmp_path
        conn: dict[str, Any] = {
            "driver": "redis" if kind == "redis" else "database",
            "url": url,
            "queue": self.queue,
            "retry_after": retry_after,
        }
        if kind != "redis":
            conn["table"] = self.table
        if key:
            conn["key"] = key
        self.failed_config = {
            "driver": "database",
            "url": f"sqlite:///{tmp_path}/failed.sqlite3",
            "table": "failed_jobs",
        }
        self.connection_config = conn
        worker_conn = dict(conn, url=worker_url or url)
        config = {
            "cache": {"default": "array", "stores": {"array": {"driver": "array"}}},
            "queue": {
                "default": CONNECTION,
                "connections": {CONNECTION: worker_conn},
                "failed": self.failed_config,
            },
        }
        self.config_path = write_config(tmp_path / f"freight-{unique}.toml", config)
        self._queue: Queue | None = None
        self._failed: FailedJobStore | None = None

    # -- producer side --------------------------------------------------------------------
    @property
    def connection(self) -> Queue:
        """The queue connection (the producer's own instance)."""
        if self._queue is None:
            from freight.queue.manager import QueueManager

            manager = QueueManager(
                {
                    "default": CONNECTION,
                    "connections": {CONNECTION: self.connection_config},
                    "failed": self.failed_config,
                }
            )
            self._queue = manager.connection(CONNECTION)
        return self._queue

    def push_many(self, jobs: Iterable[Job], chunk: int = 2000) -> list[str]:
        ids: list[str] = []
        batch: list[Job] = []
        for job in jobs:
            batch.append(job)
            if len(batch) >= chunk:
                ids += self.connection.bulk(batch, self.queue)
                batch = []
        if batch:
            ids += self.connection.bulk(batch, self.queue)
        return ids

    def push_raw(self, raw: str) -> None:
        self.connection.push_raw(raw, self.queue, 0)

    def size(self) -> int:
        return self.connection.size(self.queue)

    # -- inspection -----------------------------------------------------------------------
    def reserved(self) -> int:
        """Jobs currently reserved (handed to a worker and not acked or released)."""
        if self.kind == "redis":
            client: Any = self.connection.client  # type: ignore[attr-defined]
            return int(client.zcard(f"freight:{{{self.queue}}}:reserved"))
        import sqlalchemy as sa

        engine = self.connection.engine  # type: ignore[attr-defined]
        with engine.connect() as conn:
            sql = f"SELECT COUNT(*) FROM {self.table} WHERE queue = :q AND reserved_at IS NOT NULL"
            return int(conn.execute(sa.text(sql), {"q": self.queue}).scalar_one())

    @property
    def failed(self) -> FailedJobStore:
        if self._failed is None:
            self._failed = make_failed_store(self.failed_config, None)
        return self._failed

    def failed_jobs(self) -> list[FailedJob]:
        return self.failed.all()

    # -- cleanup --------------------------------------------------------------------------
    def close(self) -> None:
        """Remove the queue's keys or table (created by this test) and close connections."""
        if self._queue is None:
            return
        try:
            if self.kind == "redis":
                client: Any = self.connection.client  # type: ignore[attr-defined]
                names = list(client.scan_iter(match=f"freight:{{{self.queue}}}:*", count=1000))
                if names:
                    client.delete(*names)
            else:
                import sqlalchemy as sa

                with self.connection.engine.begin() as conn:  # type: ignore[attr-defined]
                    conn.execute(sa.text(f"DROP TABLE IF EXISTS {self.table}"))
        finally:
            self.connection.close()
            if self._failed is not None:
                self._failed.close()
