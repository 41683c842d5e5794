"""The redis family's error map, used at every boundary: the cache store, the queue driver and
the failed-job store translate redis-py exceptions here and nowhere else.

"Unreachable" means redis-py could not talk to the server (``ConnectionError``,
``TimeoutError``); every other client error is a plain
failure of the operation.
"""

from __future__ import annotations

from freight.errors import ErrorKinds, FreightError

__all__ = ["CLIENT_ERRORS", "is_unreachable", "translate"]

try:
    from redis import exceptions as _redis
except ImportError:  # pragma: no cover - redis-py is needed by every redis driver
    CLIENT_ERRORS: tuple[type[Exception], ...] = ()
    _UNREACHABLE: tuple[type[Exception], ...] = ()
else:
    #: what a redis-py call can raise (catch these, never ``Exception``)
    CLIENT_ERRORS = (_redis.RedisError, _redis.RedisClusterException)
    _UNREACHABLE = (_redis.ConnectionError, _redis.TimeoutError)


def is_unreachable(exc: BaseException) -> bool:
    """True when ``exc`` means the server (or the cluster) could not be reached."""
    return isinstance(exc, _UNREACHABLE)


def translate(exc: BaseException, kinds: ErrorKinds, who: str, action: str) -> FreightError:
    """The freight error for ``exc``, raised while ``who`` (a store or connection and its
    address) did ``action``; raise it ``from exc``."""
    if is_unreachable(exc):
        return kinds.unreachable(f"{who} cannot reach redis ({action}): {exc}")
    return kinds.error(f"{who} failed to {action}: {exc}")
