"""The memcached family's error map: the memcached cache store translates pymemcache and
socket exceptions here.

"Unreachable" means the server could not be talked to: a socket error, a connection closed
mid-reply, a server marked dead by the client, or a read/write that timed out (a socket
timeout enforced by the kernel surfaces as ``BlockingIOError``). Anything else (a server
error reply, a value too large) is a failure of the operation.
"""

from __future__ import annotations

from freight.errors import ErrorKinds, FreightError

__all__ = ["CLIENT_ERRORS", "is_timeout", "is_unreachable", "translate"]

try:
    from pymemcache import exceptions as _pm
except ImportError:  # pragma: no cover - pymemcache is needed by the memcached store
    CLIENT_ERRORS: tuple[type[Exception], ...] = (OSError,)
    _CLOSED: tuple[type[Exception], ...] = ()
    _BASE: type[Exception] | None = None
else:
    #: what a pymemcache call can raise (catch these, never ``Exception``)
    CLIENT_ERRORS = (_pm.MemcacheError, OSError)
    _CLOSED = (_pm.MemcacheUnexpectedCloseError,)
    _BASE = _pm.MemcacheError


def is_timeout(exc: BaseException) -> bool:
    """True when ``exc`` is a kernel-enforced socket timeout (``EAGAIN`` on a blocking socket)."""
    return isinstance(exc, BlockingIOError)


def is_unreachable(exc: BaseException) -> bool:
    """True when ``exc`` means the server could not be talked to."""
    return isinstance(exc, (OSError, *_CLOSED)) or (_BASE is not None and type(exc) is _BASE)


def translate(exc: BaseException, kinds: ErrorKinds, who: str, action: str) -> FreightError:
    """The freight error for ``exc``, raised while ``who`` (a store and its address) did
    ``action``; raise it ``from exc``."""
    if is_timeout(exc):
        return kinds.unreachable(f"{who} did not answer in time ({action})")
    if is_unreachable(exc):
        return kinds.unreachable(f"{who} cannot reach memcached ({action}): {exc}")
    return kinds.error(f"{who} failed to {action}: {exc}")
