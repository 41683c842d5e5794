"""Fixtures of the fault tests: process cleanup, a private redis-server, completion sinks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from faultkit import Processes, RedisServer, RedisSink, Sink, SqlSink

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
