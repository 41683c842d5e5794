"""The redis family's error map, used at every boundary: the cache store, the queue driver and
the failed-job store translate redis-py exceptions here and nowhere else.

"Unreachable" means redis-py could not talk to the server (``ConnectionError``,
``TimeoutError``) or a failover is in progress (the old master went read-only or away:
:func:`freight.redis_topology.in_failover`; the operation succeeds once it ends, so callers
retry it like a lost connection); every other client error is a plain failure of the
operation.
"""

from __future__ import annotations

from typing import Any

from freight.errors import ErrorKinds, FreightError
from freight.redis_topology import in_failover, rediscover

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
    """True when ``exc`` means the server could not be reached, or is failing over."""
    return isinstance(exc, _UNREACHABLE) or in_failover(exc)


def translate(
    exc: BaseException, kinds: ErrorKinds, who: str, action: str, client: Any = None
) -> FreightError:
    """The freight error for ``exc``, raised while ``who`` (a store or connection and its
    address) did ``action`` with ``client``; raise it ``from exc``. During a failover a
    Sentinel ``client`` drops its connections so its next call finds the new master."""
    if isinstance(exc, _UNREACHABLE):
        return kinds.unreachable(f"{who} cannot reach redis ({action}): {exc}")
    if in_failover(exc):
        if client is not None:
            rediscover(client)
        return kinds.unreachable(f"{who}: redis is failing over ({action}): {exc}")
    return kinds.error(f"{who} failed to {action}: {exc}")
