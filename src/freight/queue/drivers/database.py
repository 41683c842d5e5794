"""The database queue driver: one table of jobs, reserved with row locks (SQLAlchemy Core).

The table (default ``jobs``) has ``id, queue, payload, attempts, reserved_at,
available_at, created_at`` and an index on ``(queue, available_at, id)``. While a job
is reserved, ``available_at`` holds its reservation deadline, so "can be reserved now"
is one index range, ``queue = ? AND available_at <= now``, for waiting and expired jobs
alike. Reserving locks rows with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL >= 9.5, MySQL
>= 8.0.1, MariaDB >= 10.6), plain ``FOR UPDATE`` on older servers, and ``BEGIN
IMMEDIATE`` on SQLite. Times are Unix seconds from the driver's ``clock``.
docs/queue-drivers.md describes the layout and the locking in full.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, TypeVar

from freight import sql_errors
from freight.connections import describe_url, sql_engine
from freight.errors import QUEUE_ERRORS, MissingDependencyError
from freight.manager import clock_of
from freight.queue.batch import BatchRepository
from freight.queue.drivers.base import Queue, ReservedJob
from freight.queue.drivers.database_batches import DatabaseBatches
from freight.queue.drivers.database_sql import (
    AUTOCOMMIT,
    MAX_ATTEMPTS,
    begin_immediate,
    jobs_table,
    relaxed_commits,
    reserved_job,
    row_locks,
    sqlite_file,
    state_counts,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = ["DatabaseQueue", "create", "jobs_table"]

#: the most jobs one reserve transaction hands out
MAX_BATCH = 1000
#: rows per INSERT in ``push_raw_many``
INSERT_CHUNK = 1000
#: runs of a transaction the database aborted to break a deadlock (the SQL family's policy)
DEADLOCK_RETRIES = sql_errors.DEADLOCK_TRIES

T = TypeVar("T")


class DatabaseQueue(Queue):
    """Jobs as rows of one table; reserve, release and extend are short transactions."""

    driver = "database"
    #: wait() polls: a push is seen when the wait ends
    wakes_on_push: ClassVar[bool] = False
    #: an idle worker polls 50 ms after work, doubling up to --sleep
    adaptive_poll: ClassVar[bool] = True
    #: ack_many deletes a batch in one round trip
    batch_acks: ClassVar[bool] = True
    #: jobs live in a table that create_tables() makes
    has_tables: ClassVar[bool] = True

    def __init__(
        self,
        engine: Engine,
        *,
        table: str = "jobs",
        sqlite_wal: bool = True,
        durable_acks: bool = False,
        name: str = "",
        queue: str = "default",
        retry_after: float = 90,
        key: str | bytes | None = None,
        clock: Callable[[], float] = time.time,
        batch_table: str = "job_batches",
    ) -> None:
        super().__init__(name=name, queue=queue, retry_after=retry_after, key=key, clock=clock)
        self.batch_table = batch_table
        try:
            import sqlalchemy as sa
            import sqlalchemy.exc as sa_exc
        except ImportError as exc:  # pragma: no cover - an Engine implies SQLAlchemy
            raise MissingDependencyError("SQLAlchemy", "database", "database") from exc
        self.engine = engine
        self.table = jobs_table(table)
        self.sqlite_wal = sqlite_wal
        self.locking = ""
        self._sa_error: type[Exception] = sa_exc.SQLAlchemyError
        self._ready = False
        dialect = engine.dialect.name
        self._sqlite = dialect == "sqlite"
        # PostgreSQL: single statements run in autocommit (no BEGIN/COMMIT round trips), on a
        # pool of its own whose connections stay in autocommit (no isolation reset per checkout)
        # PostgreSQL reserves and acknowledges without waiting for the WAL flush (unless
        # durable_acks): a server crash can undo only the last moments of them, and an undone
        # reservation or ack makes its job run again, never lose it. Pushes always wait.
        # _push_engine: pushes, releases, extends; _ack_engine: reserve-and-mark and acks;
        # _reserve_engine: the reserve transaction. (``b_held``: the attempts count a
        # reservation saw, which proves the row is still held by it.)
        self._push_engine = self._ack_engine = engine
        if dialect == "postgresql":
            url = engine.url.render_as_string(hide_password=False)
            self._push_engine = self._ack_engine = sql_engine({"url": url, "engine_options": AUTOCOMMIT})
            if not durable_acks and engine.dialect.driver in ("psycopg", "psycopg2"):
                self._ack_engine = sql_engine({"url": url, "engine_options": relaxed_commits(engine.url)})
        self.durable_acks = self._ack_engine is self._push_engine
        # MySQL/MariaDB reserve in READ COMMITTED: no gap locks, so far fewer deadlocks
        self._reserve_engine = engine
        if dialect in ("mysql", "mariadb"):
            self._reserve_engine = engine.execution_options(isolation_level="READ COMMITTED")
        self._returning = dialect == "postgresql"
        t = self.table
        bp = sa.bindparam
        self._insert = sa.insert(t)
        self._count = sa.select(sa.func.count()).select_from(t).where(t.c.queue == bp("b_queue"))
        self._delete_queue = sa.delete(t).where(t.c.queue == bp("b_queue"))
        self._reserved = sa.and_(
            t.c.id == bp("b_id"), t.c.attempts == bp("b_held"), t.c.reserved_at.is_not(None)
        )
        self._ack = sa.delete(t).where(self._reserved)
        self._ack_many = sa.delete(t).where(
            t.c.id.in_(bp("b_ids", expanding=True)),
            t.c.attempts == bp("b_held"),
            t.c.reserved_at.is_not(None),
        )
        # a malformed row (token None: its attempts cell is not an integer) is deleted by id
        self._ack_ids = sa.delete(t).where(
            t.c.id.in_(bp("b_ids", expanding=True)), t.c.reserved_at.is_not(None)
        )
        self._extend = sa.update(t).where(self._reserved).values(available_at=bp("b_deadline"))
        self._release_at = (
            sa.update(t)
            .where(self._reserved)
            .values(reserved_at=None, attempts=bp("b_attempts"), available_at=bp("b_available_at"))
        )
        self._release_now = (
            sa.update(t)
            .where(self._reserved)
            .values(reserved_at=None, attempts=bp("b_attempts"), available_at=t.c.created_at)
        )
        self._reserve_values = {
            "reserved_at": bp("b_now"),
            "available_at": bp("b_deadline"),
            "attempts": sa.case((t.c.attempts < MAX_ATTEMPTS, t.c.attempts + 1), else_=t.c.attempts),
        }
        self._mark = sa.update(t).where(t.c.id.in_(bp("b_ids", expanding=True))).values(self._reserve_values)
        self._next_due = sa.select(sa.func.min(t.c.available_at)).where(
            t.c.queue.in_(bp("b_queues", expanding=True))
        )
        self._due = (t.c.queue == bp("b_queue"), t.c.available_at <= bp("b_now"))

    # -- setup --------------------------------------------------------------------------
    @property
    def address(self) -> str:
        """The database URL without its password."""
        return describe_url(self.engine.url.render_as_string(hide_password=False))

    def create_tables(self) -> None:
        """Create the jobs table and its index when missing (safe when several processes race)."""
        import sqlalchemy as sa

        conn = self._connect(f"create table {self.table.name!r}")
        try:
            with conn, conn.begin():
                self.table.create(conn, checkfirst=True)
        except self._sa_error as exc:
            # another process may have created it between our check and our CREATE
            try:
                exists = sa.inspect(self.engine).has_table(self.table.name)
            except self._sa_error:
                exists = False
            if not exists:
                self._fail(exc, f"create table {self.table.name!r}")

    def drop_tables(self) -> None:
        """Drop the jobs table (and every job in it) if it exists."""
        try:
            with self.engine.begin() as conn:
                self.table.drop(conn, checkfirst=True)
        except self._sa_error as exc:
            self._fail(exc, f"drop table {self.table.name!r}")
        self._ready = False

    def _setup(self) -> None:
        import sqlalchemy as sa

        if self._sqlite and self.sqlite_wal and sqlite_file(self.engine):
            try:
                with self._connect("open the SQLite database") as conn:
                    conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            except self._sa_error as exc:
                self._fail(exc, "switch the SQLite database to WAL mode")
        self.create_tables()
        skip_locked, self.locking = row_locks(self.engine.dialect)
        t = self.table
        pick = sa.select(t.c.id, t.c.payload, t.c.attempts).where(*self._due)
        pick = pick.order_by(t.c.available_at, t.c.id).limit(sa.bindparam("b_n"))
        if not self._sqlite:
            pick = pick.with_for_update(skip_locked=skip_locked)
        self._pick = pick
        if self._returning:  # one statement: lock, mark and return the rows
            picked = pick.with_only_columns(t.c.id, t.c.available_at.label("due")).cte("picked")
            self._pick_and_mark = (
                sa.update(t)
                .where(t.c.id == picked.c.id)
                .values(self._reserve_values)
                .returning(t.c.id, t.c.payload, t.c.attempts, picked.c.due)
            )
        self._ready = True

    # -- plumbing -----------------------------------------------------------------------
    def _fail(self, exc: Exception, action: str, *, connecting: bool = False) -> NoReturn:
        """Raise the freight error for a SQLAlchemy exception raised while doing ``action``."""
        who = f"queue connection {self.name!r} ({self.address})"
        raise sql_errors.translate(exc, QUEUE_ERRORS, who, action, connecting=connecting) from exc

    def _connect(self, action: str, engine: Engine | None = None) -> Connection:
        """A pooled connection; failing to get one is a QueueConnectionError."""
        try:
            return (engine or self.engine).connect()
        except self._sa_error as exc:
            self._fail(exc, action, connecting=True)

    def _run(self, action: str, body: Callable[[Connection], T], engine: Engine | None = None) -> T:
        """``body(conn)`` in a transaction that commits on success, run again when the
        database aborted it to break a deadlock (``sql_errors.retry_deadlocks``); errors
        become QueueErrors."""
        if not self._ready:
            self._setup()

        def once() -> T:
            conn = self._connect(action, engine)
            try:
                with conn:
                    result = body(conn)
                    conn.commit()
                    return result
            except self._sa_error as exc:
                self._fail(exc, action)

        return sql_errors.retry_deadlocks(once)

    # -- primitives ---------------------------------------------------------------------
    def push_raw(self, raw: str, queue: str, delay: float = 0) -> None:
        """Insert one job row (one statement; autocommit on PostgreSQL)."""
        now = self.clock()
        row = {
            "queue": queue,
            "payload": raw,
            "attempts": 0,
            "reserved_at": None,
            "available_at": now + delay if delay > 0 else now,
            "created_at": now,
        }
        self._run(f"push to queue {queue!r}", lambda conn: conn.execute(self._insert, row), self._push_engine)

    def push_raw_many(self, items: Sequence[tuple[str, str, float]]) -> None:
        """Insert many job rows: one executemany INSERT per 1000 rows, in one transaction."""
        now = self.clock()
        rows = [
            {
                "queue": queue,
                "payload": raw,
                "attempts": 0,
                "reserved_at": None,
                "available_at": now + delay if delay > 0 else now,
                "created_at": now,
            }
            for raw, queue, delay in items
        ]

        def insert(conn: Connection) -> None:
            for start in range(0, len(rows), INSERT_CHUNK):
                conn.execute(self._insert, rows[start : start + INSERT_CHUNK])

        self._run(f"push {len(rows)} jobs", insert)

    def pop_many(self, queue: str | None = None, limit: int = 1) -> list[ReservedJob]:
        """Reserve up to ``limit`` jobs (at most 1000) from ``queue`` in one transaction."""
        name = queue or self.default_queue
        if limit < 1:
            return []
        now = self.clock()
        deadline = now + self.retry_after
        params = {"b_queue": name, "b_now": now, "b_deadline": deadline, "b_n": min(limit, MAX_BATCH)}
        action = f"reserve jobs from queue {name!r}"
        connection = self.name
        if self._returning:
            rows = list(
                self._run(
                    action, lambda conn: conn.execute(self._pick_and_mark, params).all(), self._ack_engine
                )
            )
            rows.sort(key=lambda r: (r[3], r[0]))
            return [reserved_job(r[0], name, r[1], r[2], connection, counted=True) for r in rows]

        def pick_and_mark(conn: Connection) -> Sequence[Any]:
            if self._sqlite:
                begin_immediate(conn)
            picked = conn.execute(self._pick, params).all()
            if picked:
                conn.execute(self._mark, {**params, "b_ids": [r[0] for r in picked]})
            return picked

        picked = self._run(action, pick_and_mark, self._reserve_engine)
        return [reserved_job(r[0], name, r[1], r[2], connection, counted=False) for r in picked]

    def ack(self, job: ReservedJob) -> None:
        """Delete the job's row, unless another worker has reserved it since."""
        if job.extra["token"] is None:
            return self.ack_many([job])
        params = {"b_id": int(job.id), "b_held": job.extra["token"]}
        self._run(
            f"acknowledge job {job.id} on queue {job.queue!r}",
            lambda conn: conn.execute(self._ack, params),
            self._ack_engine,
        )

    def ack_many(self, jobs: Sequence[ReservedJob]) -> None:
        """Delete many rows: one DELETE per distinct attempts count, in one transaction."""
        groups: dict[int | None, list[int]] = {}
        for job in jobs:
            groups.setdefault(job.extra["token"], []).append(int(job.id))
        if not groups:
            return

        def delete(conn: Connection) -> None:
            for token, ids in groups.items():
                if token is None:
                    conn.execute(self._ack_ids, {"b_ids": ids})
                else:
                    conn.execute(self._ack_many, {"b_ids": ids, "b_held": token})

        self._run(f"acknowledge {len(jobs)} jobs", delete, self._ack_engine if len(groups) == 1 else None)

    def release(self, job: ReservedJob, delay: float = 0) -> None:
        """Make the job available again with ``job.attempts`` as its attempt count.

        With ``delay <= 0`` its ``available_at`` goes back to its ``created_at``, so it
        keeps its place ahead of jobs pushed after it; otherwise it is due ``delay``
        seconds from now. A job another worker has reserved since is left alone.
        """
        params: dict[str, Any] = {
            "b_id": int(job.id),
            "b_held": job.extra["token"],
            "b_attempts": job.attempts,
        }
        statement = self._release_now
        if delay > 0:
            statement = self._release_at
            params["b_available_at"] = self.clock() + delay
        self._run(
            f"release job {job.id} on queue {job.queue!r}",
            lambda conn: conn.execute(statement, params),
            self._push_engine,
        )

    def extend(self, job: ReservedJob, seconds: float | None = None) -> bool:
        """Move the job's reservation deadline to now + ``seconds`` (default ``retry_after``);
        False when the job is no longer reserved by this worker."""
        deadline = self.clock() + (self.retry_after if seconds is None else seconds)
        params = {"b_id": int(job.id), "b_held": job.extra["token"], "b_deadline": deadline}
        return self._run(
            f"extend the reservation of job {job.id}",
            lambda conn: conn.execute(self._extend, params).rowcount == 1,
            self._push_engine,
        )

    def counts(self, queue: str | None = None) -> tuple[int, int, int]:
        """``(ready, delayed, reserved)`` rows of ``queue`` (one query)."""
        name = self.queue_name(queue)
        statement = state_counts(self.table)
        row = self._run(
            f"count the jobs of queue {name!r}",
            lambda conn: conn.execute(statement, {"b_queue": name, "b_now": self.clock()}).one(),
        )
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)

    def describe(self) -> str:
        """The database URL (without its password) and table."""
        return f"{self.address} table {self.table.name}"

    def queue_names(self) -> list[str]:
        """The queues with rows in the table, and the default queue."""
        import sqlalchemy as sa

        found = self._run(
            "list the queues", lambda conn: conn.execute(sa.select(self.table.c.queue).distinct()).all()
        )
        return sorted({self.default_queue, *(str(r[0]) for r in found)})

    def size(self, queue: str | None = None) -> int:
        """Rows of ``queue``: ready, delayed and reserved."""
        name = self.queue_name(queue)
        return self._run(
            f"count the jobs of queue {name!r}",
            lambda conn: int(conn.execute(self._count, {"b_queue": name}).scalar_one()),
        )

    def clear(self, queue: str | None = None) -> int:
        """Delete every row of ``queue``; return how many were deleted."""
        name = self.queue_name(queue)
        return self._run(
            f"clear queue {name!r}",
            lambda conn: int(conn.execute(self._delete_queue, {"b_queue": name}).rowcount),
        )

    def wait(self, queues: Sequence[str], timeout: float, sleep: Callable[[float], Any] = time.sleep) -> None:
        """Sleep (with ``sleep``) until the earliest job of ``queues`` falls due, at most
        ``timeout`` seconds (databases offer no portable blocking wait, so a push is seen on
        the next poll)."""
        names = list(queues) or [self.default_queue]
        due = self._run(
            f"wait for jobs on {', '.join(repr(n) for n in names)}",
            lambda conn: conn.execute(self._next_due, {"b_queues": names}).scalar(),
        )
        block = timeout if due is None else min(timeout, float(due) - self.clock())
        if block > 0:
            sleep(block)

    # -- workflows ----------------------------------------------------------------------
    def cancel_raw(self, job_id: str) -> str | None:
        """Delete the waiting row whose payload starts with ``job_id``'s uuid (a LIKE scan of
        the table: an admin operation); its payload, or None."""
        import sqlalchemy as sa

        t = self.table
        plain = f'{{"uuid":"{job_id}"%'
        signed = "sig:" + "_" * 64 + f':{{"uuid":"{job_id}"%'
        match = sa.or_(t.c.payload.like(plain), t.c.payload.like(signed))
        waiting = sa.and_(t.c.reserved_at.is_(None), match)

        def take(conn: Connection) -> str | None:
            row = conn.execute(sa.select(t.c.id, t.c.payload).where(waiting).limit(1)).first()
            if row is None:
                return None
            gone = conn.execute(sa.delete(t).where(t.c.id == row[0], t.c.reserved_at.is_(None)))
            return str(row[1]) if gone.rowcount == 1 else None

        return self._run(f"cancel job {job_id!r}", take)

    def batches(self) -> BatchRepository:
        """Batches in the ``batch_table`` (default ``job_batches``) of this database."""
        if self._batch_repo is None:
            self._batch_repo = DatabaseBatches(self.engine, self.batch_table)
        return self._batch_repo

    def cache_config(self) -> dict[str, Any]:
        """A database cache store in this database (tables ``<jobs table>_cache``/``_locks``)."""
        url = self.engine.url.render_as_string(hide_password=False)
        name = self.table.name
        return {"driver": "database", "url": url, "table": f"{name}_cache", "lock_table": f"{name}_locks"}


def create(config: dict[str, Any], manager: Any = None) -> DatabaseQueue:
    """The factory registered as the ``database`` queue driver."""
    return DatabaseQueue(
        sql_engine(config, driver="database"),
        table=str(config.get("table") or "jobs"),
        sqlite_wal=bool(config.get("sqlite_wal", True)),
        durable_acks=bool(config.get("durable_acks", False)),
        name=str(config.get("name") or ""),
        queue=str(config.get("queue") or "default"),
        retry_after=float(config.get("retry_after", 90)),
        key=config.get("key"),
        clock=clock_of(config, manager),
        batch_table=str(config.get("batch_table") or "job_batches"),
    )
