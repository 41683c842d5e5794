"""pgqueuer on PostgreSQL: ``Queries.enqueue`` single and batched, drained by one QueueManager.

Everything pgqueuer creates (tables, enum type, trigger function) goes into a schema of
its own, ``<run prefix>_pgq``, dropped when the target closes. Enqueueing runs inside
one asyncio loop (pgqueuer is async-only), over one asyncpg connection. The worker is a
``QueueManager`` with its defaults (batch size 10, LISTEN/NOTIFY plus polling) in drain
mode, over its own asyncpg connection. A job is outstanding until pgqueuer has moved it
from the queue table to its log table.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from benchmarks.harness import QueueTarget, Unavailable, python_module
from benchmarks.marker import mark
from benchmarks.servers import Env, libpq_dsn

__all__ = ["PgQueuerTarget"]

ENTRYPOINT = "fbench_noop"


def _queries(connection: Any, schema: str) -> tuple[Any, Any]:
    """pgqueuer's Queries over ``connection`` with every object in ``schema``, and its settings."""
    from pgqueuer.adapters.drivers.asyncpg import AsyncpgDriver
    from pgqueuer.adapters.persistence import qb
    from pgqueuer.domain.settings import DBSettings
    from pgqueuer.queries import Queries

    settings = DBSettings(prefix="fb_", db_schema=schema)
    queries = Queries(
        AsyncpgDriver(connection),
        qbe=qb.QueryBuilderEnvironment(settings),
        qbq=qb.QueryQueueBuilder(settings),
        qbs=qb.QuerySchedulerBuilder(settings),
    )
    return queries, settings


class PgQueuerTarget(QueueTarget):
    """pgqueuer (asyncpg driver) on the benchmark PostgreSQL."""

    library = "pgqueuer"
    backend = "postgres"
    has_bulk = True
    exits_when_empty = True

    def __init__(self, env: Env) -> None:
        try:
            import asyncpg
            import pgqueuer  # noqa: F401
        except ImportError as exc:
            raise Unavailable("pgqueuer/asyncpg are not installed (pip install -e '.[bench]')") from exc
        if env.postgres_url is None:
            raise Unavailable(env.reason("postgres"))
        self.dsn, self.schema = libpq_dsn(env.postgres_url), f"{env.prefix}_pgq"
        self.loop = asyncio.new_event_loop()
        self.conn: Any = self.loop.run_until_complete(asyncpg.connect(self.dsn))
        self.queries, settings = _queries(self.conn, self.schema)
        self.table = f"{self.schema}.{settings.queue_table}"
        self.loop.run_until_complete(self.queries.install())

    def push_all(self, n: int) -> None:
        async def push() -> None:
            enqueue = self.queries.enqueue
            for i in range(n):
                await enqueue(ENTRYPOINT, b'{"i":%d}' % i)

        self.loop.run_until_complete(push())

    def bulk_all(self, n: int, chunk: int) -> None:
        async def bulk() -> None:
            for start in range(0, n, chunk):
                size = min(n, start + chunk) - start
                payloads = [b'{"i":%d}' % i for i in range(start, start + size)]
                await self.queries.enqueue([ENTRYPOINT] * size, payloads, [0] * size)

        self.loop.run_until_complete(bulk())

    def outstanding(self) -> int:
        return int(self.loop.run_until_complete(self.conn.fetchval(f"SELECT count(*) FROM {self.table}")))

    def clear(self) -> None:
        self.loop.run_until_complete(self.conn.execute(f"DELETE FROM {self.table}"))

    def worker_command(self) -> list[str]:
        return python_module(__name__, self.dsn, self.schema)

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE"))
            self.loop.run_until_complete(self.conn.close())
        finally:
            self.loop.close()


async def _work(dsn: str, schema: str) -> None:
    import asyncpg
    from pgqueuer.qm import QueueManager
    from pgqueuer.types import QueueExecutionMode

    connection = await asyncpg.connect(dsn)
    queries, settings = _queries(connection, schema)
    manager = QueueManager(queries, channel=settings.channel)

    @manager.entrypoint(ENTRYPOINT)
    async def noop(job: Any) -> None:
        mark()

    await manager.run(mode=QueueExecutionMode.drain)


def main(dsn: str, schema: str) -> None:
    """Run one pgqueuer QueueManager (default batch size) until the queue is drained."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_work(dsn, schema))


if __name__ == "__main__":
    # run the module's functions under its importable name, as the jobs are registered
    from benchmarks.peers.pgqueuer_bench import main as _main

    _main(*sys.argv[1:3])
