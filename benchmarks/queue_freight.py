"""freight's queue through its public API, drained by ``python -m freight work``.

* push: ``connection.push(NoopJob(i=i))`` per job;
* bulk: ``connection.bulk([...])`` with ``chunk`` jobs per call;
* drain: one ``python -m freight work bench --queue Q --stop-when-empty --quiet``
  process with a TOML config written for the run (default prefetch and heartbeat,
  failed jobs in a SQLite file). With an injected redis client (fakeredis, in the
  smoke test) the :class:`~freight.Worker` runs in the harness process instead.

Redis keys carry the run prefix; the PostgreSQL jobs table is named after the run and
dropped afterwards; SQLite lives in the run's temporary directory.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks.harness import QueueTarget, Unavailable, python_module
from benchmarks.marker import mark
from benchmarks.servers import Env

try:
    from freight import Job
except ImportError:  # the queue package is not there yet: the targets report Unavailable
    Job = object  # type: ignore[assignment,misc]

__all__ = ["BACKENDS", "FreightQueueTarget", "NoopJob"]

BACKENDS = ("redis", "postgres", "sqlite")


class NoopJob(Job):
    """The no-op job."""

    def handle(self) -> None:
        """Count this job."""
        mark()


def _toml(value: Any) -> str:
    return json.dumps(value)  # JSON strings, numbers and booleans are valid TOML


class FreightQueueTarget(QueueTarget):
    """One freight queue connection (redis, postgres or sqlite)."""

    library = "freight"
    has_bulk = True
    exits_when_empty = True

    def __init__(self, env: Env, backend: str) -> None:
        if Job is object:
            raise Unavailable("freight's queue package is not importable")
        from freight import QueueManager

        self.backend, self.env = backend, env
        self.queue_name = f"{env.prefix}-{backend}"
        self.connection_config = self._connection_config(env, backend)
        self.failed_url = f"sqlite:///{env.workdir / 'freight-failed.sqlite3'}"
        self.manager = QueueManager(
            {
                "default": "bench",
                "connections": {"bench": self.connection_config},
                "failed": {"driver": "database", "url": self.failed_url, "table": "failed_jobs"},
            }
        )
        self.connection = self.manager.connection("bench")

    @staticmethod
    def _connection_config(env: Env, backend: str) -> dict[str, Any]:
        if backend == "redis":
            if env.redis_client is not None:
                return {"driver": "redis", "client": env.redis_client, "prefix": env.prefix}
            if env.redis_url is None:
                raise Unavailable(env.reason("redis"))
            return {"driver": "redis", "url": env.redis_url, "prefix": env.prefix}
        if backend == "postgres":
            if env.postgres_url is None:
                raise Unavailable(env.reason("postgres"))
            return {"driver": "database", "url": env.postgres_url, "table": f"{env.prefix}_jobs"}
        if backend == "sqlite":
            return {"driver": "database", "url": f"sqlite:///{env.workdir / 'freight-queue.sqlite3'}"}
        raise ValueError(f"unknown freight queue backend {backend!r}")

    def push_all(self, n: int) -> None:
        push, queue = self.connection.push, self.queue_name
        for i in range(n):
            push(NoopJob(i=i), queue)

    def bulk_all(self, n: int, chunk: int) -> None:
        bulk, queue = self.connection.bulk, self.queue_name
        for start in range(0, n, chunk):
            bulk([NoopJob(i=i) for i in range(start, min(n, start + chunk))], queue)

    def outstanding(self) -> int:
        return int(self.connection.size(self.queue_name))

    def clear(self) -> None:
        self.connection.clear(self.queue_name)

    def config_file(self) -> str:
        """Write the worker's TOML configuration; return its path."""
        lines = ["[cache]", 'default = "array"', "", "[queue]", 'default = "bench"', ""]
        lines.append("[queue.connections.bench]")
        lines += [f"{key} = {_toml(value)}" for key, value in self.connection_config.items()]
        lines += ["", "[queue.failed]", 'driver = "database"', f"url = {_toml(self.failed_url)}"]
        lines.append('table = "failed_jobs"')
        path = self.env.workdir / f"freight-{self.backend}.toml"
        path.write_text("\n".join(lines) + "\n")
        return str(path)

    def worker_command(self) -> list[str] | None:
        if "client" in self.connection_config:
            return None
        return python_module(
            "freight",
            "work",
            "bench",
            "--queue",
            self.queue_name,
            "--stop-when-empty",
            "--quiet",
            "--config",
            self.config_file(),
        )

    def drain_inprocess(self) -> None:
        from freight import Worker

        Worker(self.manager, "bench", [self.queue_name], stop_when_empty=True).run()

    def close(self) -> None:
        try:
            if self.backend == "postgres":
                self.connection.drop_tables()  # type: ignore[attr-defined]
        finally:
            self.manager.purge()
