"""Batches of the database queue driver: one ``job_batches`` row per batch.

Counting finished jobs is ONE short transaction: one INSERT of their ids into
``<table>_done`` that skips ids already there (so a job run again after its worker died
is never counted twice; the rows go when the batch finishes), then one
``UPDATE ... SET pending_jobs = pending_jobs - :n ... WHERE pending_jobs >= :n RETURNING``
(PostgreSQL, SQLite; MySQL/MariaDB, which cannot return from an UPDATE, read the row back
in the same transaction). No row lock is taken before the job runs or held while it runs:
the update's own row lock lasts for that transaction only, so a batch's jobs never wait
for each other the way Laravel's ``SELECT ... FOR UPDATE`` makes them. Updates of one row
are serialised by the database, so exactly one transaction sees ``pending_jobs`` reach 0
and exactly one sees ``failed_jobs`` reach 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from freight.errors import QueueConnectionError, QueueError
from freight.queue.batch import BatchRepository, BatchState, Tally

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine

__all__ = ["DatabaseBatches", "batches_table", "counted_table"]


def batches_table(name: str = "job_batches", metadata: Any = None) -> Table:
    """The SQLAlchemy ``Table`` of batches called ``name``."""
    import sqlalchemy as sa

    return sa.Table(
        name,
        metadata if metadata is not None else sa.MetaData(),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(191), nullable=False, default=""),
        sa.Column("total_jobs", sa.Integer(), nullable=False),
        sa.Column("pending_jobs", sa.Integer(), nullable=False),
        sa.Column("failed_jobs", sa.Integer(), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("cancelled_at", sa.Double(), nullable=True),
        sa.Column("finished_at", sa.Double(), nullable=True),
    )


def counted_table(name: str = "job_batches", metadata: Any = None) -> Table:
    """The ``<name>_done`` table: the ids of the jobs each unfinished batch has counted."""
    import sqlalchemy as sa

    return sa.Table(
        f"{name}_done",
        metadata if metadata is not None else sa.MetaData(),
        sa.Column("batch_id", sa.String(64), primary_key=True),
        sa.Column("job_id", sa.String(64), primary_key=True),
    )


def _insert_new(dialect: str, table: Table) -> Any:
    """An INSERT that skips rows whose key exists (its rowcount: the rows inserted)."""
    import sqlalchemy as sa

    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).on_conflict_do_nothing()
    return sa.insert(table).prefix_with("IGNORE")  # MySQL, MariaDB


class DatabaseBatches(BatchRepository):
    """Batch rows in one table; ``record`` is one UPDATE (plus a read-back on MySQL)."""

    def __init__(self, engine: Engine, table: str = "job_batches") -> None:
        import sqlalchemy as sa

        self.engine = engine
        metadata = sa.MetaData()
        self.table = batches_table(table, metadata)
        self.counted = counted_table(table, metadata)
        self._metadata = metadata
        self._ready = False
        t = self.table
        bp = sa.bindparam
        dialect = engine.dialect.name
        self._returning = dialect in ("postgresql", "sqlite")
        count = (
            sa.update(t)
            .where(t.c.id == bp("b_id"), t.c.pending_jobs >= bp("b_n"))
            .values(pending_jobs=t.c.pending_jobs - bp("b_n"), failed_jobs=t.c.failed_jobs + bp("b_failed"))
        )
        self._count = count.returning(t.c.pending_jobs, t.c.failed_jobs) if self._returning else count
        self._counts = sa.select(t.c.pending_jobs, t.c.failed_jobs).where(t.c.id == bp("b_id"))
        self._finish = sa.update(t).where(t.c.id == bp("b_id")).values(finished_at=bp("b_now"))
        self._cancel = (
            sa.update(t)
            .where(t.c.id == bp("b_id"), t.c.cancelled_at.is_(None))
            .values(cancelled_at=bp("b_now"))
        )
        self._add = (
            sa.update(t)
            .where(t.c.id == bp("b_id"))
            .values(total_jobs=t.c.total_jobs + bp("b_n"), pending_jobs=t.c.pending_jobs + bp("b_n"))
        )
        self._find = sa.select(t).where(t.c.id == bp("b_id"))
        self._count_new = _insert_new(dialect, self.counted)
        if self._returning:  # the rows inserted come back (rowcount is not reliable for them)
            self._count_new = self._count_new.returning(self.counted.c.job_id)
        self._forget_counted = sa.delete(self.counted).where(self.counted.c.batch_id == bp("b_id"))

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Translate SQLAlchemy's errors into freight's at this boundary."""
        import sqlalchemy.exc as sa_exc

        try:
            yield
        except sa_exc.SQLAlchemyError as exc:
            lost = isinstance(exc, sa_exc.InterfaceError | sa_exc.DisconnectionError | sa_exc.TimeoutError)
            if lost or getattr(exc, "connection_invalidated", False):
                raise QueueConnectionError(f"cannot {action}: the database is unreachable: {exc}") from exc
            raise QueueError(f"cannot {action} (table {self.table.name!r}): {exc}") from exc

    def _begin(self) -> Connection:
        if not self._ready:
            with self.engine.begin() as conn:
                self._metadata.create_all(conn, checkfirst=True)
            self._ready = True
        return self.engine.connect()

    def drop_table(self) -> None:
        """Drop the batches table (tests, uninstalling)."""
        with self.engine.begin() as conn:
            self._metadata.drop_all(conn, checkfirst=True)
        self._ready = False

    def create(self, state: BatchState) -> None:
        """INSERT the batch row."""
        import sqlalchemy as sa

        with self._errors(f"store batch {state.id}"):
            row = {
                "id": state.id,
                "name": state.name,
                "total_jobs": state.total,
                "pending_jobs": state.pending,
                "failed_jobs": state.failed,
                "options": state.options_json(),
                "created_at": state.created_at,
                "cancelled_at": state.cancelled_at,
                "finished_at": state.finished_at,
            }
            with self._begin() as conn:
                conn.execute(sa.insert(self.table), row)
                conn.commit()

    def find(self, batch_id: str) -> BatchState | None:
        """SELECT the row."""
        with self._errors(f"read batch {batch_id}"):
            with self._begin() as conn:
                row = conn.execute(self._find, {"b_id": batch_id}).first()
            return None if row is None else _state(row)

    def add_jobs(self, batch_id: str, count: int) -> None:
        """One UPDATE adding to total and pending."""
        with self._errors(f"add jobs to batch {batch_id}"):
            with self._begin() as conn:
                conn.execute(self._add, {"b_id": batch_id, "b_n": count})
                conn.commit()

    def record(self, batch_id: str, job_ids: Sequence[str], failed: bool, now: float) -> Tally | None:
        """One UPDATE ... RETURNING (read back on MySQL/MariaDB) in one short transaction."""
        with self._errors(f"count jobs of batch {batch_id}"):
            if not job_ids:
                return None
            with self._begin() as conn:
                rows = [{"batch_id": batch_id, "job_id": job_id} for job_id in dict.fromkeys(job_ids)]
                inserted = conn.execute(self._count_new.values(rows))
                count = len(inserted.all()) if self._returning else int(inserted.rowcount)
                if count <= 0:  # every one of them was counted before (it ran again)
                    conn.rollback()
                    return None
                params = {"b_id": batch_id, "b_n": count, "b_failed": count if failed else 0, "b_now": now}
                if self._returning:
                    row = conn.execute(self._count, params).first()
                else:
                    result = conn.execute(self._count, params)
                    row = conn.execute(self._counts, params).first() if result.rowcount == 1 else None
                if row is None:
                    conn.rollback()
                    return None
                pending, failed_count = int(row[0]), int(row[1])
                first = failed and failed_count == count
                if first:
                    options = json.loads(conn.execute(self._find, params).one().options or "{}")
                    if not options.get("allow_failures"):
                        conn.execute(self._cancel, params)
                if pending == 0:
                    conn.execute(self._finish, params)
                    conn.execute(self._forget_counted, params)
                conn.commit()
            return Tally(pending, failed_count, first, pending == 0)

    def cancel(self, batch_id: str, now: float) -> None:
        """UPDATE cancelled_at once."""
        with self._errors(f"cancel batch {batch_id}"):
            with self._begin() as conn:
                conn.execute(self._cancel, {"b_id": batch_id, "b_now": now})
                conn.commit()

    def recent(self, limit: int = 50) -> list[BatchState]:
        """Newest first."""
        import sqlalchemy as sa

        with self._errors("list batches"):
            t = self.table
            with self._begin() as conn:
                rows = conn.execute(sa.select(t).order_by(t.c.created_at.desc()).limit(limit)).all()
            return [_state(row) for row in rows]

    def prune(self, before: float) -> int:
        """One DELETE of finished rows."""
        import sqlalchemy as sa

        with self._errors("prune batches"):
            t = self.table
            with self._begin() as conn:
                deleted = conn.execute(
                    sa.delete(t).where(t.c.finished_at.is_not(None), t.c.finished_at < before)
                )
                conn.commit()
            return int(deleted.rowcount)


def _state(row: Any) -> BatchState:
    return BatchState(
        row.id,
        row.name or "",
        int(row.total_jobs),
        int(row.pending_jobs),
        int(row.failed_jobs),
        json.loads(row.options or "{}"),
        float(row.created_at),
        None if row.cancelled_at is None else float(row.cancelled_at),
        None if row.finished_at is None else float(row.finished_at),
    )
