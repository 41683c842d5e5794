"""Metrics in the SQL database of a queue connection: per-minute rows pruned past the retention.

Three tables (``T`` is ``metrics.table``, default ``freight_metrics``: one set per
database, shared by every connection on it; series carry the connection and queue names):

    T                  (minute, series) primary key, value: per-minute buckets; minute 0
                       holds all-time totals; buckets older than the retention are deleted
                       by the writers, at most once a minute per process
    T_workers          (id) primary key, seen, info: worker heartbeats (JSON)
    T_recent           (id) autoincrement, at, info: recent finished jobs (JSON), bounded

A write is one transaction of upserts (``ON CONFLICT`` / ``ON DUPLICATE KEY``), rows in
primary-key order so that concurrent writers cannot deadlock each other.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from freight.metrics.series import TOTAL
from freight.metrics.store import RECENT_KEEP, WORKER_FORGET, Batch, MetricsStore

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = ["DatabaseMetricsStore", "create"]

#: the longest series name kept (longer names are cut)
SERIES_MAX = 500
#: seconds between two prunes by one process
PRUNE_EVERY = 60.0


class DatabaseMetricsStore(MetricsStore):
    """Per-minute rows in a SQL table, pruned automatically."""

    def __init__(
        self, engine: Engine, table: str = "freight_metrics", clock: Callable[[], float] = time.time
    ):
        self.engine = engine
        self.clock = clock
        self.dialect = engine.dialect.name
        self.identity = f"sql:{engine.url.render_as_string(hide_password=True)}:{table}"
        meta = sa.MetaData()
        self.buckets = sa.Table(
            table,
            meta,
            sa.Column("minute", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("series", sa.String(SERIES_MAX), primary_key=True),
            sa.Column("value", sa.BigInteger, nullable=False),
        )
        self.heartbeats = sa.Table(
            f"{table}_workers",
            meta,
            sa.Column("id", sa.String(191), primary_key=True),
            sa.Column("seen", sa.Float, nullable=False),
            sa.Column("info", sa.Text, nullable=False),
        )
        self.log = sa.Table(
            f"{table}_recent",
            meta,
            sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
            sa.Column("at", sa.Float, nullable=False),
            sa.Column("info", sa.Text, nullable=False),
        )
        self.meta = meta
        self._ready = False
        self._ready_lock = threading.Lock()
        self._next_prune = 0.0

    # -- setup ----------------------------------------------------------------------------
    def present(self) -> bool:
        """False for a SQLite file that does not exist yet (a reader then creates nothing)."""
        database = self.engine.url.database
        if self.dialect != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
            return True
        return os.path.exists(database)

    def create_tables(self) -> None:
        """Create the three tables when missing (tolerates another process racing)."""
        with self._ready_lock:
            if self._ready:
                return
            for table in self.meta.sorted_tables:
                try:
                    with self.engine.begin() as conn:
                        table.create(conn, checkfirst=True)
                except sa.exc.SQLAlchemyError:
                    if not sa.inspect(self.engine).has_table(table.name):
                        raise
            self._ready = True

    def drop_tables(self) -> None:
        """Drop the three tables (and every metric in them)."""
        self.meta.drop_all(self.engine, checkfirst=True)
        self._ready = False

    def _insert(self, table: Any) -> Any:
        # only the engine's own dialect module is imported (the others cost a third of a second)
        name = self.dialect if self.dialect in ("postgresql", "sqlite") else "mysql"
        return importlib.import_module(f"sqlalchemy.dialects.{name}").insert(table)

    def _upsert(
        self, conn: Connection, table: Any, keys: list[str], rows: list[dict[str, Any]], **set_: Any
    ) -> None:
        stmt = self._insert(table)
        if self.dialect in ("postgresql", "sqlite"):
            values = {k: v(table.c, stmt.excluded) for k, v in set_.items()}
            stmt = stmt.on_conflict_do_update(index_elements=keys, set_=values)
        else:
            values = {k: v(table.c, stmt.inserted) for k, v in set_.items()}
            stmt = stmt.on_duplicate_key_update(**values)
        conn.execute(stmt, rows)

    # -- writing ----------------------------------------------------------------------------
    def write(self, counts: Batch, gauges: Batch) -> None:
        """See :meth:`MetricsStore.write`."""
        self.create_tables()
        added: dict[tuple[int, str], int] = {}
        for (minute, series), value in counts.items():
            for key in ((minute, series[:SERIES_MAX]), (TOTAL, series[:SERIES_MAX])):
                added[key] = added.get(key, 0) + value
        setting: dict[tuple[int, str], int] = {}
        for (minute, series), value in gauges.items():
            setting[(minute, series[:SERIES_MAX])] = setting[(TOTAL, series[:SERIES_MAX])] = value
        with self.engine.begin() as conn:
            if added:
                rows = [{"minute": m, "series": s, "value": v} for (m, s), v in sorted(added.items())]
                self._upsert(
                    conn, self.buckets, ["minute", "series"], rows, value=lambda c, new: c.value + new.value
                )
            if setting:
                rows = [{"minute": m, "series": s, "value": v} for (m, s), v in sorted(setting.items())]
                self._upsert(conn, self.buckets, ["minute", "series"], rows, value=lambda c, new: new.value)
        self._prune()

    def _prune(self) -> None:
        now = self.clock()
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_EVERY
        b, h, r = self.buckets.c, self.heartbeats.c, self.log.c
        with self.engine.begin() as conn:
            floor = int(now // 60) - self.retention
            conn.execute(sa.delete(self.buckets).where(b.minute != TOTAL, b.minute < floor))
            conn.execute(sa.delete(self.heartbeats).where(h.seen < now - WORKER_FORGET))
            newest = conn.execute(sa.select(sa.func.max(r.id))).scalar()
            if newest is not None:
                conn.execute(sa.delete(self.log).where(r.id <= int(newest) - RECENT_KEEP))

    def beat(self, worker_id: str, info: Mapping[str, Any]) -> None:
        """See :meth:`MetricsStore.beat`."""
        self.create_tables()
        row = {
            "id": worker_id[:191],
            "seen": float(info.get("seen", self.clock())),
            "info": json.dumps(dict(info), default=str),
        }
        with self.engine.begin() as conn:
            self._upsert(
                conn,
                self.heartbeats,
                ["id"],
                [row],
                seen=lambda c, new: new.seen,
                info=lambda c, new: new.info,
            )

    def forget_worker(self, worker_id: str) -> None:
        """See :meth:`MetricsStore.forget_worker`."""
        self.create_tables()
        with self.engine.begin() as conn:
            conn.execute(sa.delete(self.heartbeats).where(self.heartbeats.c.id == worker_id[:191]))

    def log_jobs(self, records: Sequence[Mapping[str, Any]]) -> None:
        """See :meth:`MetricsStore.log_jobs`."""
        if not records:
            return
        self.create_tables()
        now = self.clock()
        rows = [
            {"at": float(r.get("finished_at") or now), "info": json.dumps(dict(r), default=str)}
            for r in records[-RECENT_KEEP:]
        ]
        with self.engine.begin() as conn:
            conn.execute(sa.insert(self.log), rows)

    # -- reading ----------------------------------------------------------------------------
    def read(self, first: int, last: int) -> dict[int, dict[str, int]]:
        """See :meth:`MetricsStore.read`."""
        self.create_tables()
        b = self.buckets.c
        found: dict[int, dict[str, int]] = {}
        query = sa.select(b.minute, b.series, b.value).where(
            b.minute >= max(first, TOTAL + 1), b.minute <= last
        )
        with self.engine.connect() as conn:
            for minute, series, value in conn.execute(query):
                found.setdefault(int(minute), {})[series] = int(value)
        return found

    def totals(self) -> dict[str, int]:
        """See :meth:`MetricsStore.totals`."""
        self.create_tables()
        b = self.buckets.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(b.series, b.value).where(b.minute == TOTAL))
            return {series: int(value) for series, value in rows}

    def workers(self) -> list[dict[str, Any]]:
        """See :meth:`MetricsStore.workers`."""
        self.create_tables()
        h = self.heartbeats.c
        query = sa.select(h.info).where(h.seen >= self.clock() - WORKER_FORGET).order_by(h.seen.desc())
        with self.engine.connect() as conn:
            return [json.loads(info) for (info,) in conn.execute(query)]

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """See :meth:`MetricsStore.recent`."""
        self.create_tables()
        r = self.log.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(r.info).order_by(r.id.desc()).limit(limit))
            return [json.loads(info) for (info,) in rows]


def create(queue: Any, options: Mapping[str, Any]) -> DatabaseMetricsStore:
    """The metrics store of a database queue connection (its engine; ``options['table']`` or
    ``freight_metrics``)."""
    table = str(options.get("table") or "freight_metrics")
    return DatabaseMetricsStore(queue.engine, table, queue.clock)
