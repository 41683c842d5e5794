"""The SQL side of the database queue driver: its jobs table and per-dialect locking and retries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from freight.queue.drivers.base import ReservedJob
from freight.sql_errors import is_deadlock  # re-exported: the SQL family has one definition

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine

__all__ = [
    "AUTOCOMMIT",
    "MAX_ATTEMPTS",
    "begin_immediate",
    "is_deadlock",
    "jobs_table",
    "relaxed_commits",
    "reserved_job",
    "state_counts",
    "row_locks",
    "sqlite_file",
]

#: engine options of the PostgreSQL pools that run single statements
AUTOCOMMIT: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"}
#: a reservation stops counting here, so a row at the column's limit (attempts =
#: 2147483647) cannot make the reserving UPDATE overflow and fail the whole batch
MAX_ATTEMPTS = 2**31 - 1


def reserved_job(
    row_id: Any, queue: str, payload: Any, attempts: Any, connection: str, *, counted: bool
) -> ReservedJob:
    """The reserved job of one picked row (``attempts`` as read, already incremented when
    ``counted``). A row whose cells have the wrong type (SQLite keeps any type in any
    column) becomes a job marked ``malformed`` with the reason, acked by id alone."""
    problem = ""
    if isinstance(payload, bytes | bytearray | memoryview):
        try:
            payload = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            payload, problem = (
                bytes(payload).decode("utf-8", "backslashreplace"),
                f"its payload is not UTF-8: {exc}",
            )
    elif not isinstance(payload, str):
        payload, problem = repr(payload), f"its payload is a {type(payload).__name__}, not text"
    if type(attempts) is not int:
        problem = problem or f"its attempts cell holds {attempts!r}, not an integer"
        return ReservedJob(
            str(row_id), queue, payload, 1, connection, {"token": None, "malformed": _why(row_id, problem)}
        )
    if not counted and attempts < MAX_ATTEMPTS:  # the same CASE the reserving UPDATE ran
        attempts += 1
    extra: dict[str, Any] = {"token": attempts}
    if problem:
        extra = {"token": None, "malformed": _why(row_id, problem)}
    return ReservedJob(str(row_id), queue, payload, attempts, connection, extra)


def state_counts(table: Table) -> Any:
    """SELECT of ``(ready, delayed, reserved)`` counts of queue ``b_queue`` at time ``b_now``."""
    import sqlalchemy as sa

    t = table.c
    now: Any = sa.bindparam("b_now", type_=sa.Double())
    reserved = t.reserved_at.is_not(None)
    due = sa.and_(t.reserved_at.is_(None), t.available_at <= now)
    waiting = sa.and_(t.reserved_at.is_(None), t.available_at > now)
    count = [sa.func.sum(sa.case((cond, 1), else_=0)) for cond in (due, waiting, reserved)]
    return sa.select(*count).where(t.queue == sa.bindparam("b_queue"))


def _why(row_id: Any, problem: str) -> str:
    return f"malformed job row {row_id}: {problem}"


def jobs_table(name: str = "jobs", metadata: Any = None) -> Table:
    """The SQLAlchemy ``Table`` of queued jobs called ``name``."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import mysql

    return sa.Table(
        name,
        metadata if metadata is not None else sa.MetaData(),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("queue", sa.String(191), nullable=False),
        sa.Column("payload", sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, default=0),
        sa.Column("reserved_at", sa.Double(), nullable=True),
        sa.Column("available_at", sa.Double(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Index(f"{name}_queue_available_idx", "queue", "available_at", "id"),
    )


def row_locks(dialect: Any) -> tuple[bool, str]:
    """``(skip_locked, how)`` for a connected SQLAlchemy dialect: whether ``FOR UPDATE
    SKIP LOCKED`` is available, and a short description of the locking used."""
    version = tuple(dialect.server_version_info or ())
    if dialect.name == "sqlite":
        return False, "BEGIN IMMEDIATE"
    if dialect.name == "postgresql":
        skip = version >= (9, 5)
    elif getattr(dialect, "is_mariadb", False) or dialect.name == "mariadb":
        skip = version >= (10, 6)
    elif dialect.name == "mysql":
        skip = version >= (8, 0, 1)
    else:
        skip = bool(getattr(dialect, "supports_for_update_skip_locked", False))
    return skip, "FOR UPDATE SKIP LOCKED" if skip else "FOR UPDATE"


def sqlite_file(engine: Engine) -> bool:
    """True when ``engine`` is a SQLite database in a plain file (not in memory, not a URI)."""
    database = engine.url.database or ""
    return bool(database) and database != ":memory:" and not database.startswith("file:")


def begin_immediate(conn: Connection) -> None:
    """Take SQLite's write lock now, so two workers never both read the same rows."""
    dbapi = conn.connection.dbapi_connection
    if dbapi is not None and not getattr(dbapi, "in_transaction", False):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def relaxed_commits(url: Any) -> dict[str, Any]:
    """Engine options for a PostgreSQL (libpq) pool in autocommit whose sessions commit without
    waiting for the WAL flush; libpq ``options`` already in ``url`` are kept."""
    given = url.query.get("options") or ()
    kept = [given] if isinstance(given, str) else list(given)
    return {**AUTOCOMMIT, "connect_args": {"options": " ".join([*kept, "-c synchronous_commit=off"])}}
