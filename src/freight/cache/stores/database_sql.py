"""The SQL of the database cache store: its two tables, prepared statements, keys and integer checks.

Statements are built once per store with bind parameters (``k`` key, ``v`` value or
owner, ``exp`` expiration, ``now`` the clock, ``by`` an increment) and reused, so no
call reflects tables or rebuilds SQL. ``Statements.claim`` (insert, or take over an
expired row) and ``Statements.increment`` (an upsert RETURNING the new value) exist
where one statement can do it: SQLite and PostgreSQL. MySQL has neither
``ON CONFLICT ... WHERE`` nor ``RETURNING``, so the store does those in two steps.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from typing import TYPE_CHECKING, Any

from freight.errors import CacheError

if TYPE_CHECKING:
    from sqlalchemy import MetaData, Table
    from sqlalchemy.sql import Executable

__all__ = [
    "HASH_MARK",
    "KEY_BYTES",
    "Statements",
    "cell_bytes",
    "fits",
    "integer",
    "make_table",
    "not_an_integer",
    "stored_key",
]

#: width of the key columns, in bytes of UTF-8 (VARBINARY on MySQL, so comparisons are exact)
KEY_BYTES = 255
HASH_MARK = "#sha256:"
_CANONICAL = re.compile(rb"0|-?[1-9][0-9]*")


def stored_key(namespace: str, key: str) -> str:
    """The key column's value for ``key`` under ``namespace`` (``"<escaped prefix>:<version>:"``):
    the key itself, or its sha256 when it is too long, not valid UTF-8, has NUL or looks hashed."""
    full = namespace + key
    if fits(full) and "\x00" not in key and not key.startswith(HASH_MARK):
        return full
    return namespace + HASH_MARK + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def cell_bytes(value: Any, expiry: Any) -> bytes | None:
    """The value cell as bytes, or None when a cell has the wrong type (a corrupt row is a miss)."""
    if expiry is not None and (type(expiry) is not float and type(expiry) is not int):
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return None


def fits(text: str) -> bool:
    """True when ``text`` fits the key column."""
    try:
        return len(text.encode("utf-8")) <= KEY_BYTES
    except UnicodeEncodeError:
        return False


def make_table(metadata: MetaData, name: str, data: str, data_type: Any) -> Table:
    """A (key, <data>, expiration) table; the key column compares bytes exactly on every database."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import mysql

    key_type = sa.String(KEY_BYTES).with_variant(mysql.VARBINARY(KEY_BYTES), "mysql", "mariadb")
    return sa.Table(
        name,
        metadata,
        sa.Column("key", key_type, primary_key=True),
        sa.Column(data, key_type if data_type is None else data_type, nullable=False),
        sa.Column("expiration", sa.Double(), nullable=True, index=True),
    )


def integer(raw: bytes, by: int, key: str, store: str) -> int:
    """The canonical integer in ``raw``, plus ``by``, within the signed 64-bit range."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    elif not isinstance(raw, bytes | bytearray | memoryview):
        raise not_an_integer(key, store)
    data = bytes(raw)
    if _CANONICAL.fullmatch(data) is None or not -(2**63) <= int(data) + by < 2**63:
        raise not_an_integer(key, store)
    return int(data) + by


def not_an_integer(key: str, store: str) -> CacheError:
    """The error for incrementing ``key`` whose value is not a 64-bit integer."""
    return CacheError(
        f"database cache store {store!r}: the value of {key!r} is not an integer (or out of range)"
    )


class Statements:
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
        else:
            newer = {data: ins.excluded[data], "expiration": ins.excluded.expiration}
            self.upsert = ins.on_conflict_do_update(index_elements=[c.key], set_=newer)
            claim = ins.on_conflict_do_update(index_elements=[c.key], set_=newer, where=self.expired)
            self.claim = claim.execution_options(preserve_rowcount=True)  # rowcount of an INSERT
        if data == "value":  # one upsert RETURNING the new value (MySQL itself has no RETURNING)
            fresh = ins.inserted.value if flavour == "mysql" else ins.excluded.value
            change = [  # in this order: MySQL's second assignment would see the first's result
                ("value", sa.case((self.expired, fresh), else_=self._bumped(c.value, flavour))),
                ("expiration", sa.case((self.expired, sa.null()), else_=c.expiration)),
            ]
            if flavour == "mysql":  # used on MariaDB >= 10.5 only
                self.increment = ins.on_duplicate_key_update(change).returning(c.value)
            else:
                self.increment = ins.on_conflict_do_update(
                    index_elements=[c.key], set_=dict(change)
                ).returning(c.value)

    @staticmethod
    def _bumped(value: Any, flavour: str) -> Any:
        """``value`` (ASCII digits) plus the ``by`` parameter, as ASCII digits.

        A value that is not a canonical integer fails the cast on PostgreSQL; SQLite and
        MySQL would cast it to a number silently, so there it is left unchanged instead,
        and the store refuses the non-integer it gets back."""
        import sqlalchemy as sa

        by = sa.bindparam("by", type_=sa.BigInteger)
        if flavour == "postgresql":
            utf8: Any = sa.literal_column("'UTF8'")
            number = sa.cast(sa.func.convert_from(value, utf8), sa.BigInteger)
            return sa.func.convert_to(sa.cast(number + by, sa.Text), utf8)
        if flavour == "mysql":
            canonical = sa.type_coerce(value, sa.String).regexp_match("^(0|-?[1-9][0-9]{0,18})$")
            return sa.case((canonical, sa.cast(sa.cast(value, sa.BigInteger) + by, sa.String)), else_=value)
        text = sa.cast(value, sa.Text)
        number = sa.cast(text, sa.Integer)
        canonical = sa.cast(number, sa.Text) == text
        return sa.case((canonical, sa.cast(sa.cast(number + by, sa.Text), sa.LargeBinary)), else_=value)
