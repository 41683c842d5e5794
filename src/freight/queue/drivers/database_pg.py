"""The database queue on PostgreSQL (psycopg 3): LISTEN/NOTIFY wake-ups and a lean push path.

* **Wake-ups.** The jobs table gets a statement-level trigger that runs
  ``pg_notify('<table>_pushed', '')`` after each INSERT (whoever inserts), and an idle
  worker blocks in ``LISTEN`` on its own connection instead of sleeping ``--sleep``
  seconds, so a push starts a job within a round trip or two (docs/benchmarks.md
  measures it). It blocks in slices of at most ``timeout`` seconds and still wakes for a
  delayed job or an expiring reservation falling due.
* **Push.** One INSERT on a pooled psycopg connection in autocommit, with no pre-ping
  per checkout: a connection the server dropped fails the INSERT before anything ran, is
  discarded and the INSERT runs once more on a fresh one. psycopg prepares the statement
  on the server after a few executions. The commit still waits for the WAL flush.
* **Bulk.** ``COPY ... FROM STDIN`` in one transaction per call, instead of executemany.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from freight.connections import sql_engine
from freight.errors import QueueConnectionError, QueueError
from freight.queue.drivers.database import DatabaseQueue
from freight.queue.drivers.database import create as create_database
from freight.queue.drivers.database_sql import AUTOCOMMIT

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["PostgresQueue", "create", "notify_ddl"]

_COLUMNS = "queue, payload, attempts, reserved_at, available_at, created_at"


def notify_ddl(table: str) -> list[str]:
    """The function and trigger that NOTIFY ``<table>_pushed`` after every INSERT on ``table``."""
    channel = f"{table}_pushed"
    return [
        f"CREATE OR REPLACE FUNCTION {table}_notify() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN PERFORM pg_notify('{channel}', ''); RETURN NULL; END $$",
        f"DROP TRIGGER IF EXISTS {table}_pushed ON {table}",
        f"CREATE TRIGGER {table}_pushed AFTER INSERT ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_notify()",
    ]


class PostgresQueue(DatabaseQueue):
    """The database queue on PostgreSQL: a push wakes an idle worker through LISTEN/NOTIFY."""

    #: wait() returns when a job is pushed (LISTEN)
    wakes_on_push: ClassVar[bool] = True

    def __init__(self, engine: Engine, **options: Any) -> None:
        super().__init__(engine, **options)
        url = engine.url.render_as_string(hide_password=False)
        # no pre-ping per checkout (one round trip per push saved); a dropped connection is
        # retried once instead (see _push)
        self._pusher = sql_engine({"url": url, "engine_options": {**AUTOCOMMIT, "pool_pre_ping": False}})
        table = self.table.name
        self._insert_sql = f"INSERT INTO {table} ({_COLUMNS}) VALUES (%s, %s, 0, NULL, %s, %s)"
        self._copy_sql = f"COPY {table} ({_COLUMNS}) FROM STDIN"
        self._channel = f"{table}_pushed"
        self._listener: Any = None

    def create_tables(self) -> None:
        """The jobs table, its index, and the trigger that notifies on every INSERT."""
        super().create_tables()
        conn = self._connect(f"create the notify trigger of {self.table.name!r}")
        try:
            with conn, conn.begin():  # one process at a time: concurrent DDL on a function fails
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock(hashtext('{self.table.name}_notify'))")
                for statement in notify_ddl(self.table.name):
                    conn.exec_driver_sql(statement)
        except self._sa_error as exc:
            self._fail(exc, f"create the notify trigger of {self.table.name!r}")

    # -- push -----------------------------------------------------------------------------
    def _raw(self, action: str, body: Callable[[Any], None]) -> None:
        """``body(dbapi_connection)`` on a pooled autocommit connection; a connection found
        dropped is discarded and ``body`` runs once more on a new one."""
        if not self._ready:
            self._setup()
        for attempt in (1, 2):
            try:
                raw = self._pusher.raw_connection()
            except self._sa_error as exc:
                self._fail(exc, action)
            try:
                body(raw.driver_connection)
                raw.close()
                return
            except Exception as exc:
                broken = getattr(raw.driver_connection, "broken", False) or getattr(
                    raw.driver_connection, "closed", False
                )
                if broken:
                    raw.invalidate(exc)
                else:
                    raw.close()
                if not broken or attempt == 2:
                    raise self._driver_error(exc, action) from exc

    def _driver_error(self, exc: Exception, action: str) -> Exception:
        import psycopg

        lost = isinstance(exc, psycopg.OperationalError)
        where = f"queue connection {self.name!r} ({self.address})"
        if lost:
            return QueueConnectionError(f"cannot {action}: the database of {where} is unreachable: {exc}")
        return QueueError(f"cannot {action} on {where}: {exc}")

    def push_raw(self, raw: str, queue: str, delay: float = 0) -> None:
        """One INSERT (autocommit, prepared by psycopg after a few pushes)."""
        now = self.clock()
        params = (queue, raw, now + delay if delay > 0 else now, now)
        sql = self._insert_sql
        self._raw(f"push to queue {queue!r}", lambda conn: conn.execute(sql, params))

    def push_raw_many(self, items: Sequence[tuple[str, str, float]]) -> None:
        """COPY every row in one transaction (one NOTIFY for the lot)."""
        now = self.clock()
        copy_sql = self._copy_sql

        def copy(conn: Any) -> None:
            with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copier:
                for raw, queue, delay in items:
                    copier.write_row((queue, raw, 0, None, now + delay if delay > 0 else now, now))

        self._raw(f"push {len(items)} jobs", copy)

    # -- wait -----------------------------------------------------------------------------
    def _listen(self) -> Any:
        if self._listener is None or self._listener.closed:
            import psycopg

            url = self.engine.url
            self._listener = psycopg.connect(
                host=url.host or "127.0.0.1",
                port=url.port or 5432,
                user=url.username,
                password=url.password,
                dbname=url.database,
                autocommit=True,
                connect_timeout=10,
            )
            self._listener.execute(f'LISTEN "{self._channel}"')
        return self._listener

    def wait(self, queues: Sequence[str], timeout: float, sleep: Callable[[float], Any] = time.sleep) -> None:
        """Block on LISTEN until a push, the earliest due job, or ``timeout`` seconds."""
        import psycopg

        try:
            listener = self._listen()  # listening before the due check: no push is missed
        except psycopg.Error as exc:
            raise self._driver_error(exc, "listen for pushes") from exc
        names = list(queues) or [self.default_queue]
        due = self._run(
            f"wait for jobs on {', '.join(repr(n) for n in names)}",
            lambda conn: conn.execute(self._next_due, {"b_queues": names}).scalar(),
        )
        block = timeout if due is None else min(timeout, float(due) - self.clock())
        if block <= 0:
            return
        try:
            for _ in listener.notifies(timeout=block, stop_after=1):
                break
        except psycopg.Error as exc:
            self._listener = None
            raise self._driver_error(exc, "listen for pushes") from exc

    def close(self) -> None:
        """Close the LISTEN connection too."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        super().close()


def create(config: dict[str, Any], manager: Any = None) -> DatabaseQueue:
    """The factory registered as the ``database`` queue driver: :class:`PostgresQueue` on
    PostgreSQL through psycopg 3, the plain :class:`DatabaseQueue` elsewhere."""
    queue = create_database(config, manager)
    engine = queue.engine
    if engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg":
        return queue
    return PostgresQueue(
        engine,
        table=queue.table.name,
        durable_acks=queue.durable_acks,
        name=queue.name,
        queue=queue.default_queue,
        retry_after=queue.retry_after,
        key=config.get("key"),
        clock=queue.clock,
        batch_table=queue.batch_table,
    )
