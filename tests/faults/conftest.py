"""Fixtures of the fault tests: process cleanup, a private redis-server, completion sinks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from faultkit import Processes, RedisServer, require_binary
from faultsinks import RedisSink, Sink, SqlSink

if TYPE_CHECKING:
    from queueworld import World

# Every fault test is slow-ish and starts real processes; the mark lets a quick run skip them.
FAULT_MARKS = (pytest.mark.slow, pytest.mark.network)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            for mark in FAULT_MARKS:
                item.add_marker(mark)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    """Starts child processes; kills every one still alive when the test ends."""
    logdir = tmp_path / "logs"
    logdir.mkdir()
    group = Processes(logdir)
    try:
        yield group
    finally:
        group.close()


@pytest.fixture
def private_redis(procs: Processes, tmp_path: Path, redis_url: str) -> RedisServer:
    """A redis-server of this test only, on its own loopback port, AOF persistence on."""
    require_binary("redis-server")
    server = RedisServer(procs, tmp_path / "redis")
    server.start()
    return server


@pytest.fixture
def make_sink(unique: str) -> Iterator[Callable[[str, str], Sink]]:
    """``make_sink(kind, url)``: a completion sink (redis list or SQL table) removed after the test."""
    sinks: list[Sink] = []

    def make(kind: str, url: str) -> Sink:
        name = f"{unique}_done_{len(sinks)}"
        sink: Sink = RedisSink(url, f"faults:{name}") if kind == "redis" else SqlSink(url, name)
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        sink.close()


@pytest.fixture
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """``backend_url(kind)``: the URL of the shared server for ``redis``/``postgres``/``mariadb``,
    or of a fresh SQLite file for ``sqlite`` (skips or fails like the shared fixtures)."""

    def url(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path}/queue.sqlite3"
        fixture = {"redis": "redis_url", "postgres": "postgres_url", "mariadb": "mysql_url"}[kind]
        return str(request.getfixturevalue(fixture))

    return url


@pytest.fixture
def make_world(unique: str, tmp_path: Path) -> Iterator[Callable[..., World]]:
    """``make_world(kind, url, **options)``: a queue connection under test, removed afterwards."""
    worlds: list[World] = []

    from queueworld import World

    def make(kind: str, url: str, **options: object) -> World:
        world = World(kind, url, f"{unique}{len(worlds)}", tmp_path, **options)  # type: ignore[arg-type]
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.close()
