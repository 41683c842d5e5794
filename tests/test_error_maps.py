"""One error map per backend family (redis, SQL, memcached), shared by caches, queues and failed stores."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import sqlalchemy.exc as sa_exc
from pymemcache.exceptions import MemcacheServerError, MemcacheUnexpectedCloseError

from freight import memcached_errors, redis_errors, sql_errors
from freight.errors import (
    CACHE_ERRORS,
    QUEUE_ERRORS,
    CacheConnectionError,
    CacheError,
    QueueConnectionError,
    QueueError,
)


class Orig(Exception):
    def __init__(self, *args: Any, sqlstate: str | None = None) -> None:
        super().__init__(*args)
        self.sqlstate = sqlstate


def sql_error(
    *args: Any, sqlstate: str | None = None, cls: type[sa_exc.DBAPIError] = sa_exc.OperationalError
) -> Any:
    return cls("SELECT 1", {}, Orig(*args, sqlstate=sqlstate))


def test_redis_unreachable_is_a_connection_error_in_every_layer() -> None:
    down = redis.ConnectionError("Connection refused")
    assert type(redis_errors.translate(down, CACHE_ERRORS, "store 'r'", "get")) is CacheConnectionError
    assert type(redis_errors.translate(down, QUEUE_ERRORS, "connection 'q'", "push")) is QueueConnectionError
    assert (
        type(redis_errors.translate(redis.TimeoutError(), QUEUE_ERRORS, "q", "pop")) is QueueConnectionError
    )
    wrong = redis_errors.translate(redis.ResponseError("WRONGTYPE"), CACHE_ERRORS, "store 'r'", "get")
    assert type(wrong) is CacheError and "store 'r' failed to get: WRONGTYPE" in str(wrong)


def test_sql_unreachable_means_no_connection_or_a_lost_one() -> None:
    refused = sql_error("connection refused")
    assert sql_errors.is_unreachable(refused, connecting=True)
    assert not sql_errors.is_unreachable(refused)  # an OperationalError mid-statement (a lock) is not
    assert sql_errors.is_unreachable(sql_error("gone", cls=sa_exc.InterfaceError))
    lost = sql_error("server closed the connection")
    lost.connection_invalidated = True
    assert type(sql_errors.translate(lost, QUEUE_ERRORS, "q", "ack")) is QueueConnectionError
    assert type(sql_errors.translate(refused, CACHE_ERRORS, "s", "get")) is CacheError


def test_sql_deadlocks_are_retried_a_bounded_number_of_times_with_a_growing_jittered_pause() -> None:
    assert sql_errors.is_deadlock(sql_error(1213, "Deadlock found"))
    assert sql_errors.is_deadlock(sql_error("deadlock detected", sqlstate="40P01"))
    assert not sql_errors.is_deadlock(sql_error(1062, "Duplicate entry"))
    wrapped = QueueError("cannot ack")
    wrapped.__cause__ = sql_error(1205, "Lock wait timeout")
    assert sql_errors.is_deadlock(wrapped)

    calls: list[int] = []
    pauses: list[float] = []

    def always_deadlocked() -> None:
        calls.append(1)
        raise sql_error(1213, "Deadlock found")

    with pytest.raises(sa_exc.OperationalError):
        sql_errors.retry_deadlocks(always_deadlocked, sleep=pauses.append)
    assert len(calls) == sql_errors.DEADLOCK_TRIES and len(pauses) == sql_errors.DEADLOCK_TRIES - 1
    assert all(0 <= p <= 0.005 * (i + 1) for i, p in enumerate(pauses))
    outcomes = iter([sql_error(1213, "Deadlock found"), None])

    def once_then_fine() -> str:
        error = next(outcomes)
        if error is not None:
            raise error
        return "ok"

    assert sql_errors.retry_deadlocks(once_then_fine, sleep=lambda s: None) == "ok"
    with pytest.raises(ValueError):
        sql_errors.retry_deadlocks(lambda: int("x"), sleep=pauses.append)


def test_memcached_timeouts_and_closed_sockets_are_unreachable() -> None:
    timeout = memcached_errors.translate(BlockingIOError(), CACHE_ERRORS, "store 'm'", "get")
    assert type(timeout) is CacheConnectionError and "did not answer in time" in str(timeout)
    assert memcached_errors.is_unreachable(MemcacheUnexpectedCloseError())
    assert memcached_errors.is_unreachable(ConnectionRefusedError())
    full = memcached_errors.translate(MemcacheServerError("out of memory"), CACHE_ERRORS, "m", "set")
    assert type(full) is CacheError
