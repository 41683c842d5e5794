"""The SQL family's error map and deadlock policy, used at every boundary: the database cache
store, the database queue driver and the database failed-job store.

* **Unreachable**: no connection could be had (the pool or the server refused), or SQLAlchemy
  reports the connection lost (``InterfaceError``, ``DisconnectionError``, a pool
  ``TimeoutError``, ``connection_invalidated``). Anything else is a failure of the statement.
* **Deadlock**: the database rolled the transaction back to break a deadlock, a serialization
  failure or a lock-wait timeout (PostgreSQL SQLSTATE 40P01/40001, MySQL/MariaDB 1213/1205);
  running it again is safe. :func:`retry_deadlocks` does, at most :data:`DEADLOCK_TRIES`
  times, with a jittered pause that grows with each try.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from freight.errors import ErrorKinds, FreightError

__all__ = [
    "DEADLOCK_TRIES",
    "is_deadlock",
    "is_unreachable",
    "pause",
    "retry_deadlocks",
    "too_large",
    "translate",
]

T = TypeVar("T")

#: times a transaction is run in all when the database keeps aborting it to break deadlocks
DEADLOCK_TRIES = 10

try:
    from sqlalchemy import exc as _sa
except ImportError:  # pragma: no cover - SQLAlchemy is needed by every database driver
    _LOST: tuple[type[Exception], ...] = ()
else:
    _LOST = (_sa.InterfaceError, _sa.DisconnectionError, _sa.TimeoutError)


def is_unreachable(exc: BaseException, *, connecting: bool = False) -> bool:
    """True when ``exc`` (raised while ``connecting``, or mid-statement) means the database is lost."""
    return connecting or isinstance(exc, _LOST) or bool(getattr(exc, "connection_invalidated", False))


#: MySQL/MariaDB: packet too large, and the "gone away" / "lost connection" the server's
#: hang-up after an oversized packet looks like
_PACKET_ERRORS = (1153, 1301, 2006, 2013)
#: bytes of parameters past which a hang-up is taken as the server refusing the packet
LARGE_PARAMETERS = 1 << 20


def too_large(exc: BaseException) -> int:
    """The bytes of parameters a MySQL/MariaDB server hung up on (over ``max_allowed_packet``),
    else 0: a write of more than :data:`LARGE_PARAMETERS` bytes answered by a packet error."""
    args = getattr(getattr(exc, "orig", None), "args", None) or (None,)
    if args[0] not in _PACKET_ERRORS:
        return 0
    params = getattr(exc, "params", None)
    rows = params if isinstance(params, list | tuple) else [params]
    sent = sum(
        len(v) for row in rows if isinstance(row, dict) for v in row.values() if isinstance(v, str | bytes)
    )
    return sent if sent > LARGE_PARAMETERS or args[0] in (1153, 1301) else 0


def is_deadlock(exc: BaseException | None) -> bool:
    """True when the database aborted the transaction to break a deadlock (or a lock wait timed
    out), so running it again is safe; a freight error is judged by its ``__cause__``."""
    if isinstance(exc, FreightError):
        exc = exc.__cause__
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in ("40P01", "40001"):  # PostgreSQL
        return True
    args = getattr(orig, "args", None) or (None,)
    return args[0] in (1213, 1205)  # MySQL/MariaDB: deadlock, lock wait timeout


def pause(attempt: int) -> float:
    """Seconds to wait before try ``attempt + 1``: random, up to 5 ms per try so far."""
    return random.uniform(0, 0.005 * attempt)


def retry_deadlocks(fn: Callable[[], T], *, sleep: Callable[[float], Any] = time.sleep) -> T:
    """``fn()``, run again (after :func:`pause`) while it fails with a deadlock, at most
    :data:`DEADLOCK_TRIES` times in all; any other error, or the last deadlock, propagates."""
    attempt = 1
    while True:
        try:
            return fn()
        except Exception as exc:
            if attempt >= DEADLOCK_TRIES or not is_deadlock(exc):
                raise
        sleep(pause(attempt))
        attempt += 1


def translate(
    exc: BaseException, kinds: ErrorKinds, who: str, action: str, *, connecting: bool = False
) -> FreightError:
    """The freight error for a SQLAlchemy exception raised while ``who`` (a store or connection
    and its database) did ``action``; raise it ``from exc``."""
    detail = str(getattr(exc, "orig", None) or exc).strip()
    sent = too_large(exc)
    if sent:
        return kinds.error(
            f"{who} failed to {action}: the server refused {sent} bytes of values (over MySQL/"
            f"MariaDB's max_allowed_packet; store smaller values or raise that setting): {detail}"
        )
    if is_unreachable(exc, connecting=connecting):
        return kinds.unreachable(f"{who} cannot reach its database ({action}): {detail}")
    return kinds.error(f"{who} failed to {action}: {detail}")
