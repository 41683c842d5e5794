"""Capabilities of the queue backends: which driver class serves each kind of the contract suite.

A contract case that applies to some drivers only is marked ``@capable("flag")``; the flag
is read from the driver class, so tests never name drivers.
"""

from __future__ import annotations

import pytest

from freight.manager import import_object
from freight.queue.drivers.base import Queue

SQL_KINDS = frozenset({"sqlite", "postgres", "mysql"})

#: the Queue subclass serving each kind (it carries the capability flags)
DRIVER_CLASS = {
    "memory": "freight.queue.drivers.memory:MemoryQueue",
    "redis": "freight.queue.drivers.redis:RedisQueue",
    "cluster": "freight.queue.drivers.redis:RedisQueue",
    "sentinel": "freight.queue.drivers.redis:RedisQueue",
    "fakeredis": "freight.queue.drivers.redis:RedisQueue",
} | {kind: "freight.queue.drivers.database:DatabaseQueue" for kind in SQL_KINDS}
DRIVER_CLASS["postgres"] = "freight.queue.drivers.database_pg:PostgresQueue"


def driver_class(kind: str) -> type[Queue]:
    """The Queue subclass that serves ``kind``."""
    cls: type[Queue] = import_object(DRIVER_CLASS[kind])
    return cls


def capable(flag: str) -> pytest.MarkDecorator:
    """Generate a case only for the kinds whose driver class sets the capability ``flag``."""
    return pytest.mark.applies("queue_kind", lambda kind: bool(getattr(driver_class(kind), flag)))
