"""The database cache store (SQLAlchemy Core) on SQLite, PostgreSQL and MariaDB/MySQL.

Two tables, created on first use (or by ``create_tables()`` / ``python -m freight
cache:table``): ``cache(key, value, expiration)`` and ``cache_locks(key, owner,
expiration)``; ``expiration`` is a Unix time from the injected clock, NULL for
forever. Keys are ``"<escaped prefix>:<version>:<key>"``; one whose UTF-8 form is
longer than the 255-byte key column, is not valid UTF-8 (a lone surrogate), contains
NUL, or starts with ``#sha256:`` is stored as ``"<escaped prefix>:<version>:#sha256:" +
sha256(key)``, so any string works and flush still finds it. Locks use the key
``"<escaped prefix>:lock:<name>"`` in the lock table. A cell of the wrong type (a
value that is not a blob, an expiration that is not a number) reads as a miss.

Atomicity: ``put`` is one upsert; ``add`` and lock ``acquire`` insert, or take over
an expired row, in one statement (``ON CONFLICT ... DO UPDATE ... WHERE expired`` on
SQLite/PostgreSQL; an INSERT and then ``UPDATE ... WHERE expired`` on MySQL);
``increment`` is one upsert ``RETURNING`` the new value on SQLite/PostgreSQL, and a
``SELECT ... FOR UPDATE`` transaction on MySQL.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from freight import sql_errors
from freight.cache.stores.base import Clock, Store, lock_prefix
from freight.cache.stores.database_lock import DatabaseLock
from freight.cache.stores.database_sql import (
    HASH_MARK,
    KEY_BYTES,
    Statements,
    cell_bytes,
    fits,
    integer,
    make_table,
    not_an_integer,
    stored_key,
)
from freight.connections import sql_engine
from freight.errors import CACHE_ERRORS, CacheError, ConfigurationError, FreightError
from freight.manager import clock_of

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.sql import Executable

__all__ = ["DatabaseLock", "DatabaseStore", "KEY_BYTES", "create", "stored_key"]

#: keys per SELECT ... IN (...) in many()
MANY_CHUNK = 500
#: tries at creating the tables while other processes race to do the same (about 4 s in all)
CREATE_ATTEMPTS = 12
#: times an increment is tried when another writer keeps winning the race for its row
RACE_TRIES = 50
_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql"}


class DatabaseStore(Store):
    """A cache store in two SQL tables; expiry follows the injected clock."""

    driver = "database"
    shared = True
    uses_clock = True
    has_tables = True

    def __init__(
        self,
        engine: Engine,
        *,
        table: str = "cache",
        lock_table: str = "cache_locks",
        name: str = "",
        prefix: str = "",
        clock: Clock = time.time,
        durable_writes: bool = False,
        sqlite_wal: bool = True,
        version: int = 1,
    ) -> None:
        super().__init__(name=name, prefix=prefix, clock=clock, version=version)
        import sqlalchemy as sa
        from sqlalchemy.dialects import mysql

        self.flavour = _DIALECTS.get(engine.dialect.name, "")
        #: the key prefix of this store's rows in the lock table
        self.lock_ns = lock_prefix(prefix)
        if not self.flavour:
            raise ConfigurationError(
                f"database cache store {self.name!r}: dialect {engine.dialect.name!r} is not supported "
                "(use SQLite, PostgreSQL or MariaDB/MySQL)"
            )
        if not fits(self.key_prefix + "#x:" + HASH_MARK + "0" * 64):
            raise ConfigurationError(
                f"database cache store {self.name!r}: the prefix must be at most "
                f"{KEY_BYTES - 80 - len(str(self.version))} bytes once escaped (non-ASCII characters "
                "take 3 bytes per UTF-8 byte)"
            )
        self.engine = engine
        self._address = engine.url.render_as_string(hide_password=True)
        self._wal = (
            sqlite_wal and self.flavour == "sqlite" and engine.url.database not in (None, "", ":memory:")
        )
        #: (set, reset) SQL making a cache write skip waiting for the disk (see _session), or None.
        #: SQLite's synchronous=NORMAL is only safe in WAL mode.
        relax = {
            "postgresql": ("SET synchronous_commit TO OFF", "RESET synchronous_commit"),
            "sqlite": ("PRAGMA synchronous=NORMAL", "PRAGMA synchronous=FULL") if self._wal else None,
        }.get(self.flavour)
        self._relax = None if durable_writes else relax
        #: autocommit is free to switch on SQLite and PostgreSQL; on MySQL it costs round trips
        self._autocommit = self.flavour != "mysql"
        self._increment_sql: Executable | None = None  # chosen once connected (create_tables)
        self._metadata = sa.MetaData()
        blob = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
        self.cache_table = cache = make_table(self._metadata, table, "value", blob)
        self.lock_table = make_table(self._metadata, lock_table, "owner", None)
        self._cache = Statements(cache, "value", self.flavour)
        self._locks = Statements(self.lock_table, "owner", self.flavour)
        keys = sa.bindparam("keys", expanding=True, type_=sa.String())
        self._select_many = sa.select(cache.c.key, cache.c.value, cache.c.expiration).where(
            cache.c.key.in_(keys)
        )
        self._forget_many = sa.delete(cache).where(cache.c.key.in_(keys))
        pattern, spaces = (
            sa.bindparam("pattern", type_=sa.String()),
            sa.bindparam("spaces", type_=sa.String()),
        )
        self._flush = sa.delete(cache).where(
            sa.or_(cache.c.key.like(pattern, escape="/"), cache.c.key.like(spaces, escape="/"))
        )
        self._sa_error: type[Exception] = sa.exc.SQLAlchemyError
        self._integrity_error: type[Exception] = sa.exc.IntegrityError
        self._data_error: type[Exception] = sa.exc.DataError
        self._ready = False

    def relayout(self) -> None:
        """Row keys follow :attr:`key_prefix`."""

    # -- tables -----------------------------------------------------------------------
    def create_tables(self) -> None:
        """Create the cache and lock tables if they are missing (safe from many processes at once)."""
        last: Exception | None = None
        for attempt in range(CREATE_ATTEMPTS):
            if attempt:  # SQLite refuses the switch to WAL while other processes hold the file
                time.sleep(random.uniform(0.01, 0.05) * attempt)
            try:
                with self._connect("create tables") as conn:
                    if self._wal:  # readers no longer wait for the writer
                        mode = conn.exec_driver_sql("PRAGMA journal_mode=WAL").scalar()
                        if str(mode).lower() != "wal":
                            self._relax = None  # synchronous=NORMAL is only safe in WAL mode
                    self._metadata.create_all(conn, checkfirst=True)
                    conn.commit()
                dialect: Any = self.engine.dialect  # MySQL has no RETURNING; MariaDB has it since 10.5
                mariadb = getattr(dialect, "is_mariadb", False) and dialect.server_version_info >= (10, 5)
                self._increment_sql = self._cache.increment if self.flavour != "mysql" or mariadb else None
                self._ready = True
                return
            except self._sa_error as exc:  # another process created them meanwhile: check again
                last = exc
        raise self._error(last or RuntimeError("unreachable"), "create tables")

    def drop_tables(self) -> None:
        """Drop the cache and lock tables (for tests and uninstalling)."""
        with self._connect("drop tables") as conn:
            try:
                self._metadata.drop_all(conn, checkfirst=True)
                conn.commit()
            except self._sa_error as exc:
                raise self._error(exc, "drop tables") from exc
        self._ready = False

    # -- helpers ----------------------------------------------------------------------
    def _key(self, key: str) -> str:
        return stored_key(self.key_prefix, key)

    def _expiry(self, seconds: float | None) -> float | None:
        return None if seconds is None else self.clock() + seconds

    def _error(self, exc: Exception, action: str, *, connecting: bool = False) -> FreightError:
        """The freight error for a SQLAlchemy exception raised while doing ``action``."""
        who = f"database cache store {self.name!r} at {self._address}"
        return sql_errors.translate(exc, CACHE_ERRORS, who, action, connecting=connecting)

    def _connect(self, action: str) -> Connection:
        try:
            return self.engine.connect()
        except self._sa_error as exc:
            raise self._error(exc, action, connecting=True) from exc

    @contextmanager
    def _session(self, action: str, *, relaxed: bool = False) -> Iterator[Connection]:
        """A connection in a transaction, committed on success; errors become CacheErrors.

        On SQLite and PostgreSQL every statement commits on its own (autocommit), so a hot
        row is locked only inside the database, never while this process waits for the CPU.
        ``relaxed``: a cache write that need not wait for the disk: PostgreSQL commits it
        asynchronously, SQLite (WAL) with ``synchronous=NORMAL``. A crash of the server (or of
        the machine, for SQLite) may lose the last moments of such writes, never corrupt them.
        Lock rows are always written durably."""
        if not self._ready:
            self.create_tables()
        conn = self._connect(action)
        relax = self._relax if relaxed else None
        try:
            with conn:
                if self._autocommit:
                    conn.execution_options(isolation_level="AUTOCOMMIT")
                if relax:
                    conn.exec_driver_sql(relax[0])
                    conn.commit()
                try:
                    with conn.begin():
                        yield conn
                finally:
                    if relax:  # the pooled connection may serve a queue next: hand it back as found
                        try:
                            conn.exec_driver_sql(relax[1])
                            conn.commit()
                        except self._sa_error:
                            conn.invalidate()
        except self._sa_error as exc:
            raise self._error(exc, action) from exc

    def _run(self, stmt: Executable, params: Any, action: str, *, relaxed: bool = True) -> Any:
        """Execute one statement in its own transaction (again after a deadlock); its rowcount."""

        def once() -> Any:
            with self._session(action, relaxed=relaxed) as conn:
                return conn.execute(stmt, params).rowcount

        return sql_errors.retry_deadlocks(once)

    def _insert_new(self, ops: Statements, params: dict[str, Any], action: str) -> bool:
        """INSERT in its own transaction; False when the key already exists."""
        try:
            self._run(ops.insert, params, action, relaxed=ops is self._cache)
        except CacheError as exc:
            if isinstance(exc.__cause__, self._integrity_error):
                return False
            raise
        return True

    def _claim(self, ops: Statements, params: dict[str, Any], action: str) -> bool:
        """Insert a row, or take over an expired one, atomically; False when a live row exists."""
        relaxed = ops is self._cache
        if ops.claim is not None:
            return bool(self._run(ops.claim, params, action, relaxed=relaxed) == 1)
        if self._insert_new(ops, params, action):
            return True
        return bool(self._run(ops.takeover, params, action, relaxed=relaxed) == 1)

    # -- primitives -------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """SELECT; an expired row reads as a miss and is deleted."""
        k, now = self._key(key), self.clock()
        with self._session("get") as conn:
            row = conn.execute(self._cache.select, {"k": k}).first()
            if row is None:
                return None
            value, expiry = row
            if expiry is not None and type(expiry) is not float and type(expiry) is not int:
                return None  # a corrupt cell: a miss
            if expiry is None or expiry > now:
                return value if type(value) is bytes else cell_bytes(value, None)
            conn.execute(self._cache.delete_expired, {"k": k, "now": now})
        return None

    def put(self, key: str, value: bytes, seconds: float | None) -> bool:
        """One upsert."""
        self._run(self._cache.upsert, {"k": self._key(key), "v": value, "exp": self._expiry(seconds)}, "put")
        return True

    def add(self, key: str, value: bytes, seconds: float | None) -> bool:
        """Insert, or take over an expired row, in one atomic step."""
        params = {"k": self._key(key), "v": value, "exp": self._expiry(seconds), "now": self.clock()}
        return self._claim(self._cache, params, "add")

    def increment(self, key: str, by: int = 1) -> int:
        """One upsert RETURNING the new value (SQLite, PostgreSQL, MariaDB), or a row-locking
        transaction (MySQL); again after a deadlock or a lost race."""
        k, now, action = self._key(key), self.clock(), f"increment {key!r}"
        for _ in range(RACE_TRIES):
            new = sql_errors.retry_deadlocks(lambda: self._increment_once(k, key, by, now, action))
            if new is not None:
                return new
        raise CacheError(f"database cache store {self.name!r}: {action} lost {RACE_TRIES} races")

    def _increment_once(self, k: str, key: str, by: int, now: float, action: str) -> int | None:
        """One attempt; None when another process inserted the missing row first."""
        ops, fresh = self._cache, str(by).encode()
        with self._session(action, relaxed=True) as conn:
            if self._increment_sql is not None:
                params = {"k": k, "v": fresh, "exp": None, "by": by, "now": now}
                try:
                    return integer(conn.execute(self._increment_sql, params).scalar_one(), 0, key, self.name)
                except self._data_error as exc:  # PostgreSQL refused to cast the value
                    raise not_an_integer(key, self.name) from exc
            row = conn.execute(ops.select_for_update, {"k": k}).first()
            if row is not None:
                expiry = row[1]
                if expiry is not None and expiry <= now:
                    new, expiry = by, None
                else:
                    new = integer(row[0], by, key, self.name)
                conn.execute(ops.rewrite, {"k": k, "v": str(new).encode(), "exp": expiry})
                return new
        return by if self._insert_new(ops, {"k": k, "v": fresh, "exp": None}, action) else None

    def forget(self, key: str) -> bool:
        """DELETE; True only if a live row was removed."""
        return bool(self._run(self._cache.delete_live, {"k": self._key(key), "now": self.clock()}, "forget"))

    def touch(self, key: str, seconds: float | None) -> bool:
        """UPDATE the expiration of a live row."""
        params = {"k": self._key(key), "exp": self._expiry(seconds), "now": self.clock()}
        return bool(self._run(self._cache.retime, params, "touch"))

    def flush(self) -> bool:
        """DELETE the rows of this prefix and version (internal key spaces included); locks,
        other versions and other prefixes stay."""
        start = _like(self.key_prefix[:-1])
        spaces = start + ("#%" if not self.keyspace else ":%")
        self._run(self._flush, {"pattern": start + ":%", "spaces": spaces}, "flush")
        return True

    def prune(self) -> int:
        """DELETE expired rows of both tables (every prefix); the number of rows removed."""
        now = {"now": self.clock()}
        return int(self._run(self._cache.prune, now, "prune")) + int(
            self._run(self._locks.prune, now, "prune")
        )

    # -- the lock table: DatabaseLock's interface (lock rows are always written durably) ---
    def claim_lock(self, params: dict[str, Any], action: str) -> bool:
        """Insert the lock row, or take over an expired one, atomically; False when it is held."""
        return self._claim(self._locks, params, action)

    def delete_lock(self, params: dict[str, Any], action: str, *, owned: bool) -> bool:
        """Delete the lock row (only the live one of ``params['v']`` when ``owned``); True if deleted."""
        stmt = self._locks.delete_owned if owned else self._locks.delete
        return bool(self._run(stmt, params, action, relaxed=False))

    def retime_lock(self, params: dict[str, Any], action: str) -> bool:
        """Move the live lock row's expiration if ``params['v']`` owns it."""
        return bool(self._run(self._locks.retime_owned, params, action, relaxed=False))

    def lock_owner(self, params: dict[str, Any], action: str) -> Any:
        """The owner cell of the live lock row, or None."""
        with self._session(action) as conn:
            return conn.execute(self._locks.select_live, params).scalar()

    def lock(self, name: str, seconds: float = 0, owner: str | None = None) -> DatabaseLock:
        """A lock stored as a row of the lock table."""
        return DatabaseLock(self, name, seconds, owner)

    # -- derived operations ------------------------------------------------------------
    def many(self, keys: Iterable[str]) -> dict[str, bytes | None]:
        """SELECT ... IN (...), in chunks."""
        names = {key: self._key(key) for key in keys}
        found: dict[str, bytes] = {}
        stored, now = list(set(names.values())), self.clock()
        with self._session("get many") as conn:
            for start in range(0, len(stored), MANY_CHUNK):
                chunk = stored[start : start + MANY_CHUNK]
                for k, value, expiry in conn.execute(self._select_many, {"keys": chunk}):
                    data = cell_bytes(value, expiry)
                    if data is not None and (expiry is None or expiry > now):
                        found[k if isinstance(k, str) else bytes(k).decode("utf-8")] = data
        return {key: found.get(k) for key, k in names.items()}

    def put_many(self, values: Mapping[str, bytes], seconds: float | None) -> bool:
        """One executemany upsert in one transaction (rows in key order, so two never deadlock)."""
        if values:
            exp = self._expiry(seconds)
            rows = sorted(({"k": self._key(k), "v": v, "exp": exp} for k, v in values.items()), key=_by_key)
            self._run(self._cache.upsert, rows, "put many")
        return True

    def forget_many(self, keys: Iterable[str]) -> int:
        """DELETE ... WHERE key IN (...), :data:`MANY_CHUNK` keys per statement."""
        stored = sorted({self._key(k) for k in keys})
        removed = 0
        for start in range(0, len(stored), MANY_CHUNK):
            removed += int(
                self._run(self._forget_many, {"keys": stored[start : start + MANY_CHUNK]}, "forget")
            )
        return removed

    def describe(self) -> str:
        """The database URL (password hidden) and table."""
        return f"{self._address} table {self.cache_table.name}"


def _like(text: str) -> str:
    """``text`` with LIKE's wildcards escaped (escape character ``/``)."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _by_key(row: dict[str, Any]) -> str:
    return str(row["k"])


def create(config: dict[str, Any], manager: Any) -> DatabaseStore:
    """Build a database store from its configuration (``url`` or ``engine``, ``table``, ``lock_table``,
    ``durable_writes``, ``sqlite_wal``)."""
    return DatabaseStore(
        sql_engine(config, driver="database"),
        table=str(config.get("table") or "cache"),
        lock_table=str(config.get("lock_table") or "cache_locks"),
        durable_writes=bool(config.get("durable_writes", False)),
        sqlite_wal=bool(config.get("sqlite_wal", True)),
        version=config.get("version", 1),
        name=str(config.get("name", "")),
        prefix=str(config.get("prefix") or ""),
        clock=clock_of(config, manager),
    )
