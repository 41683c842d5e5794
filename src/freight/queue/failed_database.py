"""The ``database`` failed-job store (SQLAlchemy Core): one row per failed job.

Table (default ``failed_jobs``), created on first use or by ``python -m freight queue:table``::

    id         big integer, primary key
    uuid       varchar(36), unique      -- the id the CLI shows
    connection varchar(255)
    queue      varchar(255)
    payload    text (LONGTEXT on MySQL/MariaDB)
    exception  text (LONGTEXT on MySQL/MariaDB)
    failed_at  double, indexed          -- Unix time
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from freight import sql_errors
from freight.connections import describe_url, sql_engine
from freight.errors import QUEUE_ERRORS, FreightError
from freight.manager import clock_of
from freight.queue.failed import FailedJob, FailedJobStore, corrupt_record, describe_exception, record_id

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection, Engine

__all__ = ["DatabaseFailedJobStore", "create"]

DEFAULT_URL = "sqlite:///storage/queue.sqlite3"


class DatabaseFailedJobStore(FailedJobStore):
    """Failed jobs in a SQL table."""

    driver = "database"

    def __init__(
        self, engine: Engine, table: str = "failed_jobs", clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(clock)
        import sqlalchemy as sa
        from sqlalchemy.dialects import mysql

        self.engine = engine
        self.table_name = table
        long_text = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
        self.table: sa.Table = sa.Table(
            table,
            sa.MetaData(),
            sa.Column(
                "id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                primary_key=True,
                autoincrement=True,
            ),
            sa.Column("uuid", sa.String(36), nullable=False, unique=True),
            sa.Column("connection", sa.String(255), nullable=False),
            sa.Column("queue", sa.String(255), nullable=False),
            sa.Column("payload", long_text, nullable=False),
            sa.Column("exception", long_text, nullable=False),
            sa.Column("failed_at", sa.Double(), nullable=False, index=True),
        )
        self._ready = False
        self._guard = threading.Lock()

    # -- plumbing ----------------------------------------------------------------------
    def _where(self) -> str:
        return f"failed-job store (database {describe_url(str(self.engine.url))}, table {self.table_name!r})"

    def _error(self, exc: Exception, action: str, *, connecting: bool = False) -> FreightError:
        """The freight error for a SQLAlchemy exception raised while doing ``action``."""
        return sql_errors.translate(exc, QUEUE_ERRORS, self._where(), action, connecting=connecting)

    @contextmanager
    def _begin(self, action: str) -> Iterator[Connection]:
        import sqlalchemy.exc as sa_exc

        if not self._ready:
            self.create_tables()
        conn = self._connect(action)
        try:
            with conn, conn.begin():
                yield conn
        except sa_exc.SQLAlchemyError as exc:
            raise self._error(exc, action) from exc

    def _connect(self, action: str) -> Connection:
        """A pooled connection; failing to get one means the database is unreachable."""
        import sqlalchemy.exc as sa_exc

        try:
            return self.engine.connect()
        except sa_exc.SQLAlchemyError as exc:
            raise self._error(exc, action, connecting=True) from exc

    def create_tables(self) -> None:
        """Create the table and its indexes unless they exist (safe when workers race)."""
        import sqlalchemy as sa
        import sqlalchemy.exc as sa_exc

        with self._guard:
            if self._ready:
                return
            try:
                with self._connect("create the table") as conn:
                    self.table.create(conn, checkfirst=True)
                    conn.commit()
            except sa_exc.SQLAlchemyError as exc:  # another process may have created it first
                try:
                    exists = sa.inspect(self.engine).has_table(self.table_name)
                except sa_exc.SQLAlchemyError:
                    exists = False
                if not exists:
                    raise self._error(exc, "create the table") from exc
            self._ready = True

    @staticmethod
    def _record(row: Any) -> FailedJob:
        try:
            fields = (row.uuid, row.connection, row.queue, row.payload, row.exception)
            if not all(isinstance(f, str) for f in fields):
                raise TypeError("a text column holds another type")
            return FailedJob(*fields, failed_at=float(row.failed_at))
        except (TypeError, ValueError) as exc:  # SQLite keeps any type in any column
            return corrupt_record(str(row.uuid), row.payload, f"unreadable row: {exc}")

    # -- the store API -------------------------------------------------------------------
    def log(self, connection: str, queue: str, payload: str, exc: BaseException) -> str:
        """Insert one failed job; returns its id (the payload's uuid when readable)."""
        import sqlalchemy as sa

        new_id = record_id(payload)
        t = self.table
        with self._begin("record a failed job") as conn:
            kept = conn.execute(sa.select(t.c.payload).where(t.c.uuid == new_id)).scalar()
            if kept is not None and kept != payload:  # another payload claims that uuid: keep both
                new_id = self.new_id()
            conn.execute(t.delete().where(t.c.uuid == new_id))
            conn.execute(
                self.table.insert().values(
                    uuid=new_id,
                    connection=connection,
                    queue=queue,
                    payload=payload,
                    exception=describe_exception(exc),
                    failed_at=self.clock(),
                )
            )
        return new_id

    def all(self) -> list[FailedJob]:
        """Every failed job, newest first."""
        t = self.table
        with self._begin("list failed jobs") as conn:
            rows = conn.execute(t.select().order_by(t.c.failed_at.desc(), t.c.id.desc())).all()
        return [self._record(row) for row in rows]

    def find(self, id: str) -> FailedJob | None:
        """The failed job with ``id``, or None."""
        with self._begin("find a failed job") as conn:
            row = conn.execute(self.table.select().where(self.table.c.uuid == id)).first()
        return self._record(row) if row is not None else None

    def forget(self, id: str) -> bool:
        """Delete the failed job with ``id``."""
        with self._begin("forget a failed job") as conn:
            return bool(conn.execute(self.table.delete().where(self.table.c.uuid == id)).rowcount)

    def flush(self) -> int:
        """Delete every failed job in this table."""
        with self._begin("flush failed jobs") as conn:
            return int(conn.execute(self.table.delete()).rowcount or 0)

    def count(self) -> int:
        """How many failed jobs the table holds."""
        import sqlalchemy as sa

        with self._begin("count failed jobs") as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one())

    def __repr__(self) -> str:
        return f"<DatabaseFailedJobStore {describe_url(str(self.engine.url))} table={self.table_name!r}>"


def create(config: dict[str, Any], manager: Any) -> DatabaseFailedJobStore:
    """Factory: ``url`` (default: the default connection's database, else
    ``sqlite:///storage/queue.sqlite3``), ``table`` (default ``failed_jobs``)."""
    config = dict(config)
    if not config.get("url") and config.get("engine") is None:
        config["url"] = _default_url(manager)
    engine = sql_engine(config, driver="database")
    return DatabaseFailedJobStore(
        engine, str(config.get("table") or "failed_jobs"), clock_of(config, manager)
    )


def _default_url(manager: Any) -> str:
    try:
        default = manager.item_config(manager.default_name())
    except Exception:  # no usable default connection: fall back to the embedded default
        return DEFAULT_URL
    if default.get("driver") == "database" and default.get("url"):
        return str(default["url"])
    return DEFAULT_URL
