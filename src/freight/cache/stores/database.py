"""The database cache store (SQLAlchemy Core) on SQLite, PostgreSQL and MariaDB/MySQL.

Two tables, created on first use (or by ``create_tables()`` / ``python -m freight
cache:table``): ``cache(key, value, expiration)`` and ``cache_locks(key, owner,
expiration)``; ``expiration`` is a Unix time from the injected clock, NULL for
forever. Keys are ``"<prefix>:<key>"``; one whose UTF-8 form is longer than the
255-byte key column, contains NUL, or starts with ``#sha256:`` is stored as
``"<prefix>:#sha256:" + sha256(key)``, so any string works and flush still finds it.

Atomicity: ``put`` is one upsert; ``add`` and lock ``acquire`` insert, or take over
an expired row, in one statement (``ON CONFLICT ... DO UPDATE ... WHERE expired`` on
SQLite/PostgreSQL; an INSERT and then ``UPDATE ... WHERE expired`` on MySQL);
``increment`` is one upsert ``RETURNING`` the new value on SQLite/PostgreSQL, and a
``SELECT ... FOR UPDATE`` transaction on MySQL.
"""

from __future__ import annotations

import hashlib
import importlib
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from freight.cache.lock import Lock
from freight.cache.stores.base import Clock, Store
from freight.connections import sql_engine
from freight.errors import CacheConnectionError, CacheError, ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.sql import Executable

__all__ = ["DatabaseLock", "DatabaseStore", "KEY_BYTES", "create", "stored_key"]

#: width of the key columns, in bytes of UTF-8 (VARBINARY on MySQL, so comparisons are exact)
KEY_BYTES = 255
HASH_MARK = "#sha256:"
#: keys per SELECT ... IN (...) in many()
MANY_CHUNK = 500
_SQL_ATTEMPTS = 50
_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql"}


def stored_key(namespace: str, key: str) -> str:
    """The key column's value for ``key`` under ``namespace`` (``"<prefix>:"`` or ``""``)."""
    full = namespace + key
    if len(full) <= KEY_BYTES // 4 or _fits(full):
        if "\x00" not in key and not key.startswith(HASH_MARK):
            return full
    return namespace + HASH_MARK + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _fits(text: str) -> bool:
    try:
        return len(text.encode("utf-8")) <= KEY_BYTES
    except UnicodeEncodeError:
        return False


class _Ops:
    """The prepared statements of one table whose columns are (key, <data>, expiration)."""

    def __init__(self, table: Table, data: str, flavour: str) -> None:
        import sqlalchemy as sa

        c, k = table.c, sa.bindparam("k", type_=sa.String())  # str; MySQL stores it as UTF-8 bytes
        v: Any = sa.bindparam("v")
        exp: Any = sa.bindparam("exp", type_=sa.Double)
        this, now = c.key == k, sa.bindparam("now", type_=sa.Double)
        self.table, self.flavour, row = table, flavour, {data: v, "expiration": exp}
        self.live = sa.or_(c.expiration.is_(None), c.expiration > now)
        self.expired = sa.and_(c.expiration.is_not(None), c.expiration <= now)
        self.select = sa.select(c[data], c.expiration).where(this)
        self.select_for_update = self.select.with_for_update()
        self.select_live = sa.select(c[data]).where(this, self.live)
        self.delete = sa.delete(table).where(this)
        self.delete_live = self.delete.where(self.live)
        self.delete_expired = self.delete.where(self.expired)
        self.delete_owned = self.delete_live.where(c[data] == v)
        self.prune = sa.delete(table).where(c.expiration <= now)
        self.retime = sa.update(table).where(this, self.live).values(expiration=exp)
        self.retime_owned = self.retime.where(c[data] == v)
        self.rewrite = sa.update(table).where(this).values(row)
        self.takeover = self.rewrite.where(self.expired)
        self.insert = sa.insert(table).values({"key": k, **row})
        ins: Any = importlib.import_module(f"sqlalchemy.dialects.{flavour}").insert(table)
        ins = ins.values({"key": k, **row})
        self.claim: Executable | None = None
        self.increment: Executable | None = None
        if flavour == "mysql":
            self.upsert = ins.on_duplicate_key_update(
                {data: ins.inserted[data], "expiration": ins.inserted.expiration}
            )
            return
        newer = {data: ins.excluded[data], "expiration": ins.excluded.expiration}
        self.upsert = ins.on_conflict_do_update(index_elements=[c.key], set_=newer)
        claim = ins.on_conflict_do_update(index_elements=[c.key], set_=newer, where=self.expired)
        self.claim = claim.execution_options(preserve_rowcount=True)  # rowcount of an INSERT
        if data == "value":  # one upsert RETURNING the new value; MySQL uses a locking transaction
            started = {"value": ins.excluded.value, "expiration": sa.null()}
            bumped = {"value": self._bumped(c.value, flavour), "expiration": c.expiration}
            change = {col: sa.case((self.expired, started[col]), else_=bumped[col]) for col in started}
            self.increment = ins.on_conflict_do_update(index_elements=[c.key], set_=change).returning(c.value)

    @staticmethod
    def _bumped(value: Any, flavour: str) -> Any:
        """``value`` (ASCII digits) plus the ``by`` parameter, as ASCII digits."""
        import sqlalchemy as sa

        by = sa.bindparam("by", type_=sa.BigInteger)
        if flavour == "postgresql":  # a non-integer value fails the cast: an error, never a silent 0
            utf8: Any = sa.literal_column("'UTF8'")
            number = sa.cast(sa.func.convert_from(value, utf8), sa.BigInteger)
            return sa.func.convert_to(sa.cast(number + by, sa.Text), utf8)
        # SQLite casts anything to a number, so a value that is not a canonical integer
        # becomes NULL instead, and the NOT NULL constraint turns that into an error
        text = sa.cast(value, sa.Text)
        number = sa.cast(text, sa.Integer)
        canonical = sa.cast(number, sa.Text) == text
        return sa.case((canonical, sa.cast(sa.cast(number + by, sa.Text), sa.LargeBinary)), else_=sa.null())


class DatabaseStore(Store):
    """A cache store in two SQL tables; expiry follows the injected clock."""

    driver = "database"
    shared = True
    uses_clock = True

    def __init__(
        self,
        engine: Engine,
        *,
        table: str = "cache",
        lock_table: str = "cache_locks",
        name: str = "",
        prefix: str = "",
        clock: Clock = time.time,
    ) -> None:
        super().__init__(name=name, prefix=prefix, clock=clock)
        import sqlalchemy as sa
        from sqlalchemy.dialects import mysql

        flavour = _DIALECTS.get(engine.dialect.name)
        if flavour is None:
            raise ConfigurationError(
                f"database cache store {self.name!r}: dialect {engine.dialect.name!r} is not supported "
                "(use SQLite, PostgreSQL or MariaDB/MySQL)"
            )
        self._ns = f"{prefix}:" if prefix else ""
        if "\x00" in prefix or not _fits(self._ns + HASH_MARK + "0" * 64):
            raise ConfigurationError(
                f"database cache store {self.name!r}: the prefix must have no NUL character and be at "
                f"most {KEY_BYTES - 73} bytes of UTF-8"
            )
        self.engine = engine
        self.flavour = flavour
        self._address = engine.url.render_as_string(hide_password=True)
        self._metadata = sa.MetaData()
        key_type = sa.String(KEY_BYTES).with_variant(mysql.VARBINARY(KEY_BYTES), "mysql", "mariadb")
        blob = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
        cache = sa.Table(
            table,
            self._metadata,
            sa.Column("key", key_type, primary_key=True),
            sa.Column("value", blob, nullable=False),
            sa.Column("expiration", sa.Double(), nullable=True, index=True),
        )
        locks = sa.Table(
            lock_table,
            self._metadata,
            sa.Column("key", key_type, primary_key=True),
            sa.Column("owner", key_type, nullable=False),
            sa.Column("expiration", sa.Double(), nullable=True, index=True),
        )
        self.cache_table, self.lock_table = cache, locks
        self._cache = _Ops(cache, "value", flavour)
        self._locks = _Ops(locks, "owner", flavour)
        self._select_many = sa.select(cache.c.key, cache.c.value, cache.c.expiration).where(
            cache.c.key.in_(sa.bindparam("keys", expanding=True, type_=sa.String()))
        )
        self._flush = sa.delete(cache).where(
            cache.c.key.like(sa.bindparam("pattern", type_=sa.String()), escape="/")
        )
        self._flush_all = sa.delete(cache)
        self._sa_error: type[Exception] = sa.exc.SQLAlchemyError
        self._integrity_error: type[Exception] = sa.exc.IntegrityError
        self._value_errors = (sa.exc.IntegrityError, sa.exc.DataError)
        self._ready = False

    # -- tables -----------------------------------------------------------------------
    def create_tables(self) -> None:
        """Create the cache and lock tables if they are missing (safe from many processes at once)."""
        last: Exception | None = None
        for _ in range(3):
            conn = self._connect("create tables")
            try:
                with conn:
                    self._metadata.create_all(conn, checkfirst=True)
                    conn.commit()
                self._ready = True
                return
            except self._sa_error as exc:  # another process created them meanwhile: check again
                last = exc
        assert last is not None
        raise self._error(last, "create tables")

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
        return stored_key(self._ns, key)

    def _expiry(self, seconds: float | None) -> float | None:
        return None if seconds is None else self.clock() + seconds

    def _error(self, exc: Exception, action: str, *, connecting: bool = False) -> CacheError:
        """The freight error for a SQLAlchemy exception raised while doing ``action``."""
        detail = str(getattr(exc, "orig", None) or exc).strip()
        if connecting or getattr(exc, "connection_invalidated", False):
            return CacheConnectionError(
                f"database cache store {self.name!r} cannot reach {self._address} ({action}): {detail}"
            )
        return CacheError(
            f"database cache store {self.name!r} at {self._address} failed to {action}: {detail}"
        )

    def _connect(self, action: str) -> Connection:
        try:
            return self.engine.connect()
        except self._sa_error as exc:
            raise self._error(exc, action, connecting=True) from exc

    @contextmanager
    def _session(self, action: str) -> Iterator[Connection]:
        """A connection in a transaction, committed on success; errors become CacheErrors."""
        if not self._ready:
            self.create_tables()
        conn = self._connect(action)
        try:
            with conn, conn.begin():
                yield conn
        except self._sa_error as exc:
            raise self._error(exc, action) from exc

    def _run(self, stmt: Executable, params: Any, action: str) -> Any:
        with self._session(action) as conn:
            result = conn.execute(stmt, params)
            return result.rowcount

    def _insert_new(self, ops: _Ops, params: dict[str, Any], action: str) -> bool:
        """INSERT in its own transaction; False when the key already exists."""
        try:
            self._run(ops.insert, params, action)
        except CacheError as exc:
            if isinstance(exc.__cause__, self._integrity_error):
                return False
            raise
        return True

    def _claim(self, ops: _Ops, params: dict[str, Any], action: str) -> bool:
        """Insert a row, or take over an expired one, atomically; False when a live row exists."""
        if ops.claim is not None:
            return bool(self._run(ops.claim, params, action) == 1)
        if self._insert_new(ops, params, action):
            return True
        return bool(self._run(ops.takeover, params, action) == 1)

    # -- primitives -------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """SELECT; an expired row reads as a miss and is deleted."""
        k, now = self._key(key), self.clock()
        with self._session("get") as conn:
            row = conn.execute(self._cache.select, {"k": k}).first()
            if row is None:
                return None
            if row[1] is None or row[1] > now:
                return bytes(row[0])
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
        """One upsert RETURNING (SQLite, PostgreSQL) or a row-locking transaction (MySQL)."""
        k, now = self._key(key), self.clock()
        if self._cache.increment is None:
            return self._increment_locked(k, key, by, now)
        params = {"k": k, "v": str(by).encode(), "exp": None, "by": by, "now": now}
        try:
            with self._session(f"increment {key!r}") as conn:
                return int(conn.execute(self._cache.increment, params).scalar_one())
        except CacheError as exc:  # PostgreSQL: the cast failed; SQLite: the NOT NULL check did
            if isinstance(exc.__cause__, self._value_errors):
                raise _not_an_integer(key, self.name) from exc.__cause__
            raise

    def _increment_locked(self, k: str, key: str, by: int, now: float) -> int:
        ops = self._cache
        for _ in range(_SQL_ATTEMPTS):
            with self._session(f"increment {key!r}") as conn:
                row = conn.execute(ops.select_for_update, {"k": k}).first()
                if row is not None:
                    expiry = row[1]
                    if expiry is not None and expiry <= now:
                        new, expiry = by, None
                    else:
                        new = _as_int(row[0], key, self.name) + by
                        if not -(2**63) <= new < 2**63:  # the range the other databases and redis allow
                            raise _not_an_integer(key, self.name)
                    conn.execute(ops.rewrite, {"k": k, "v": str(new).encode(), "exp": expiry})
                    return new
            if self._insert_new(ops, {"k": k, "v": str(by).encode(), "exp": None}, f"increment {key!r}"):
                return by
        raise CacheError(f"database cache store {self.name!r}: increment {key!r} lost {_SQL_ATTEMPTS} races")

    def forget(self, key: str) -> bool:
        """DELETE; True only if a live row was removed."""
        return bool(self._run(self._cache.delete_live, {"k": self._key(key), "now": self.clock()}, "forget"))

    def touch(self, key: str, seconds: float | None) -> bool:
        """UPDATE the expiration of a live row."""
        params = {"k": self._key(key), "exp": self._expiry(seconds), "now": self.clock()}
        return bool(self._run(self._cache.retime, params, "touch"))

    def flush(self) -> bool:
        """DELETE this prefix's rows (every row of the table when the prefix is empty); locks stay."""
        if not self._ns:
            self._run(self._flush_all, {}, "flush")
            return True
        pattern = self._ns.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
        self._run(self._flush, {"pattern": pattern}, "flush")
        return True

    def prune(self) -> int:
        """DELETE expired rows of both tables (every prefix); the number of rows removed."""
        now = self.clock()
        return int(self._run(self._cache.prune, {"now": now}, "prune")) + int(
            self._run(self._locks.prune, {"now": now}, "prune locks")
        )

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
                    if expiry is None or expiry > now:
                        found[k if isinstance(k, str) else bytes(k).decode("utf-8")] = bytes(value)
        return {key: found.get(k) for key, k in names.items()}

    def put_many(self, values: Mapping[str, bytes], seconds: float | None) -> bool:
        """One executemany upsert in one transaction."""
        if values:
            exp = self._expiry(seconds)
            rows = [{"k": self._key(key), "v": value, "exp": exp} for key, value in values.items()]
            with self._session("put many") as conn:
                conn.execute(self._cache.upsert, rows)
        return True

    def describe(self) -> str:
        """The database URL (password hidden) and table."""
        return f"{self._address} table {self.cache_table.name}"


class DatabaseLock(Lock):
    """A lock stored as a (key, owner, expiration) row."""

    def __init__(self, store: DatabaseStore, name: str, seconds: float = 0, owner: str | None = None) -> None:
        super().__init__(name, seconds, owner)
        self._store = store
        self._key = stored_key(store._ns, name)

    def _params(self, seconds: float | None = None) -> dict[str, Any]:
        ttl = self.seconds if seconds is None else seconds
        now = self._store.clock()
        owner = self.owner.encode("utf-8", "surrogatepass") if self._store.flavour == "mysql" else self.owner
        return {"k": self._key, "v": owner, "exp": now + ttl if ttl > 0 else None, "now": now}

    def acquire(self) -> bool:
        """Insert the row, or take over an expired one, atomically."""
        return self._store._claim(self._store._locks, self._params(), f"acquire lock {self.name!r}")

    def release(self) -> bool:
        """DELETE the row only if this owner holds it (and it has not expired)."""
        store = self._store
        return bool(store._run(store._locks.delete_owned, self._params(), f"release lock {self.name!r}"))

    def force_release(self) -> None:
        """DELETE the row, whoever holds it."""
        self._store._run(self._store._locks.delete, {"k": self._key}, f"force-release lock {self.name!r}")

    def current_owner(self) -> str | None:
        """The owner of the live row, if any."""
        with self._store._session(f"read lock {self.name!r}") as conn:
            owner = conn.execute(self._store._locks.select_live, self._params()).scalar()
        if owner is None or isinstance(owner, str):
            return owner
        return bytes(owner).decode("utf-8", "surrogatepass")

    def refresh(self, seconds: float | None = None) -> bool:
        """UPDATE the expiration only if this owner holds the lock."""
        store = self._store
        return bool(
            store._run(store._locks.retime_owned, self._params(seconds), f"refresh lock {self.name!r}")
        )


def _as_int(raw: bytes, key: str, store: str) -> int:
    try:
        return int(bytes(raw))
    except ValueError:
        raise _not_an_integer(key, store) from None


def _not_an_integer(key: str, store: str) -> CacheError:
    return CacheError(
        f"database cache store {store!r}: the value of {key!r} is not an integer (or out of range)"
    )


def create(config: dict[str, Any], manager: Any) -> DatabaseStore:
    """Build a database store from its configuration (``url`` or ``engine``, ``table``, ``lock_table``)."""
    return DatabaseStore(
        sql_engine(config, driver="database"),
        table=str(config.get("table") or "cache"),
        lock_table=str(config.get("lock_table") or "cache_locks"),
        name=str(config.get("name", "")),
        prefix=str(config.get("prefix") or ""),
        clock=getattr(manager, "clock", time.time),
    )
