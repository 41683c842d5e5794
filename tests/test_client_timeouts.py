"""Default connect and read timeouts on every client (issue 12, item 8): a server that
accepts connections and never answers turns into a connection error, not a hang."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from freight.cache.manager import CacheManager
from freight.connections import CONNECT_TIMEOUT, READ_TIMEOUT, redis_client, sql_engine, sql_timeouts
from freight.errors import CacheConnectionError


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port whose server accepts connections (the kernel's backlog) and never replies."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


def test_redis_clients_get_default_timeouts() -> None:
    kwargs = redis_client({"url": "redis://127.0.0.1:6379/0"}).connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == READ_TIMEOUT and kwargs["socket_connect_timeout"] == CONNECT_TIMEOUT
    configured = redis_client({"url": "redis://127.0.0.1:6379/0", "socket_timeout": 0.25})
    assert configured.connection_pool.connection_kwargs["socket_timeout"] == 0.25


def test_a_hung_redis_is_a_connection_error_within_its_timeout(silent_server: int) -> None:
    store = {"driver": "redis", "url": f"redis://127.0.0.1:{silent_server}/0", "socket_timeout": 0.3}
    cache = CacheManager({"default": "r", "stores": {"r": store}}).store()
    started = time.monotonic()
    with pytest.raises(CacheConnectionError):
        cache.get("k")
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://u@127.0.0.1:9/x", {"connect_timeout": 5}),
        ("mysql+pymysql://u@127.0.0.1:9/x", {"connect_timeout": 5, "read_timeout": 30, "write_timeout": 30}),
    ],
)
def test_sql_engines_get_default_timeouts(url: str, expected: dict[str, int]) -> None:
    assert expected.items() <= sql_timeouts(url, {}).items()
    assert sql_timeouts(url, {"connect_timeout": 2})["connect_timeout"] == 2
    sql_engine({"url": url}).dispose()  # the options are accepted by the DBAPI's engine
