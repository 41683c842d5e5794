"""The queue contract's backends: one parametrised ``queue`` fixture over every driver.

``queue_kind`` runs a test once per backend: in memory, real Redis, fakeredis, SQLite,
PostgreSQL and MariaDB/MySQL. A case that only applies to some drivers is marked with a
capability of the driver class (``capable("wakes_on_push")``), never with kind names.
Each backend asks for its server fixture through
``request.getfixturevalue``, so an unreachable server skips (locally) or fails (in CI)
only its own parameter. Isolation on the shared servers comes from ``unique``: a
redis key prefix and a SQL table per test, removed afterwards (prefix-scoped SCAN +
DEL; DROP of the table the test created), plus a unique queue name.

Fixtures other queue tests can reuse:

* ``clock``: a :class:`FakeClock`; drivers built by ``make_queue`` read time from it.
* ``queue_config(kind, **overrides)``: a connection config for one backend, isolated
  by ``unique`` and cleaned up after the test (a URL config for every kind except
  ``fakeredis``, so it also works for a worker run in a subprocess).
* ``make_queue(config, clock=...)``: the driver for a config, closed after the test.
* ``queue``: the driver under test for ``queue_kind``, on the fake clock.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from queuekit import SQL_KINDS

from freight.queue.drivers.base import Queue

#: the module whose create() the manager registers for a driver name, when not its own
DRIVER_MODULES = {"database": "database_pg"}
QUEUE_KINDS = ("memory", "redis", "cluster", "sentinel", "fakeredis", "sqlite", "postgres", "mysql")
REDIS_KINDS = frozenset({"redis", "cluster", "sentinel", "fakeredis"})


class FakeClock:
    """A settable time source: ``clock()`` returns ``clock.now``; ``advance()`` moves it."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(start if start is not None else round(time.time(), 3))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` and return the new time."""
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock starting at the current time, moved only by ``advance()``."""
    return FakeClock()


def _drop_redis(client: Any, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
    if keys:
        client.delete(*keys)


def _drop_table(url: str, table: str) -> None:
    from freight.connections import sql_engine
    from freight.queue.drivers.database import DatabaseQueue

    DatabaseQueue(sql_engine({"url": url}), table=table).drop_tables()


def _dispose(url: str) -> None:
    from freight.connections import sql_engine

    sql_engine({"url": url}).dispose()


@pytest.fixture
def queue_config(request: pytest.FixtureRequest, unique: str) -> Iterator[Callable[..., dict[str, Any]]]:
    """``queue_config(kind, **overrides)``: an isolated connection config, cleaned up afterwards."""
    cleanups: list[Callable[[], None]] = []
    count = 0

    def build(kind: str, **overrides: Any) -> dict[str, Any]:
        nonlocal count
        count += 1
        tag = f"{unique}x{count}"
        config: dict[str, Any]
        if kind == "memory":
            config = {"driver": "memory"}
        elif kind == "redis":
            import redis

            url = request.getfixturevalue("redis_url")
            config = {"driver": "redis", "url": url, "prefix": f"freight-test:{tag}"}
            client = redis.Redis.from_url(url)
            prefix = overrides.get("prefix", config["prefix"])
            cleanups.append(lambda: (_drop_redis(client, prefix), client.close()))
        elif kind in {"cluster", "sentinel"}:
            from freight.connections import redis_client

            if kind == "cluster":
                config = {"driver": "redis", "cluster": True}
                config["startup_nodes"] = request.getfixturevalue("redis_cluster_nodes")
            else:
                config = {"driver": "redis", "service_name": "freight-test"}
                config["sentinels"] = request.getfixturevalue("redis_sentinels")
            config["prefix"] = f"freight-test:{tag}"
            topology_client = redis_client(config)
            topology_prefix = overrides.get("prefix", config["prefix"])
            cleanups.append(lambda: (_drop_redis(topology_client, topology_prefix), topology_client.close()))
        elif kind == "fakeredis":
            fakeredis = pytest.importorskip("fakeredis")
            fake = fakeredis.FakeRedis()
            config = {"driver": "redis", "client": fake, "prefix": f"freight-test:{tag}"}
            fake_prefix = overrides.get("prefix", config["prefix"])
            cleanups.append(lambda: _drop_redis(fake, fake_prefix))
        elif kind in SQL_KINDS:
            url = request.getfixturevalue(f"{kind}_url")
            config = {"driver": "database", "url": url, "table": f"jobs_{tag}"}
            table = overrides.get("table", config["table"])
            if kind == "sqlite":  # the file lives in tmp_path; just close its pool
                cleanups.append(lambda: _dispose(url))
            else:
                cleanups.append(lambda: _drop_table(url, table))
        else:
            raise ValueError(f"unknown queue kind {kind!r}; known: {', '.join(QUEUE_KINDS)}")
        config.update(name=kind, queue=f"q{tag}", retry_after=90)
        config.update(overrides)
        return config

    yield build
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.fixture
def make_queue(clock: FakeClock) -> Iterator[Callable[..., Queue]]:
    """``make_queue(config, clock=fake)``: the driver for ``config``, closed after the test."""
    made: list[Queue] = []

    def make(config: dict[str, Any], clock: Callable[[], float] | None = clock) -> Queue:
        # the factory the manager registers (database_pg:create serves "database")
        module = importlib.import_module(
            f"freight.queue.drivers.{DRIVER_MODULES.get(config['driver'], config['driver'])}"
        )
        queue: Queue = module.create({**config, "clock": clock or time.time}, None)
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue.close()


@pytest.fixture(params=QUEUE_KINDS)
def queue_kind(request: pytest.FixtureRequest) -> str:
    """Each queue backend in turn."""
    return str(request.param)


@pytest.fixture
def queue(
    queue_kind: str,
    queue_config: Callable[..., dict[str, Any]],
    make_queue: Callable[..., Queue],
) -> Queue:
    """The driver under test, with its own queue name, prefix or table, on the fake clock."""
    return make_queue(queue_config(queue_kind))
