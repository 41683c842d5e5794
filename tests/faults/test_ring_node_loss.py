"""A memcached ring losing a node under load (issue 16): misses, never exceptions; it rejoins.

Three private memcached nodes (children of the test, on ports of the 17300-17999 range);
10,000 gets run while one node is SIGKILLed; it is then restarted on its port, and must
serve its keys again within 5 seconds without the client being told anything.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
from collections.abc import Iterator

import pytest

import serverkit
from freight.cache.manager import CacheManager


def _free_ports(n: int) -> list[int]:
    rng = random.Random(os.getpid())
    ports: list[int] = []
    while len(ports) < n:
        port = rng.randrange(17300, 18000)
        with socket.socket() as s:
            try:
                s.bind((serverkit.HOST, port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
    return ports


@pytest.fixture
def ring() -> Iterator[dict[int, object]]:
    if not serverkit.shutil.which("memcached"):
        pytest.skip("the memcached binary is not installed")
    procs = {port: serverkit.start_memcached(port, daemon=False) for port in _free_ports(3)}
    yield procs
    for proc in procs.values():
        proc.kill()  # type: ignore[attr-defined]
        proc.wait(5)  # type: ignore[attr-defined]


def test_a_killed_node_gives_misses_and_rejoins(
    ring: dict[int, object], unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    ports = list(ring)
    servers = [f"{serverkit.HOST}:{p}" for p in ports]
    manager = CacheManager(
        {"default": "m", "prefix": unique, "stores": {"m": {"driver": "memcached", "servers": servers}}}
    )
    cache = manager.store()
    keys = [f"k{i}" for i in range(1000)]
    cache.put_many({k: k for k in keys}, 300)
    victim = ports[1]
    errors: list[BaseException] = []
    hits = misses = 0
    with caplog.at_level(logging.WARNING, logger="freight.cache"):
        for i in range(10_000):
            if i == 3000:
                ring[victim].kill()  # type: ignore[attr-defined]
                ring[victim].wait(5)  # type: ignore[attr-defined]
            try:
                value = cache.get(keys[i % len(keys)])
            except Exception as exc:  # noqa: BLE001 - the claim is that none reaches us
                errors.append(exc)
                continue
            if value is None:
                misses += 1
            else:
                hits += 1
    assert errors == [], errors[:3]
    assert 1000 < misses < 5000 and hits > 5000, (hits, misses)
    assert any(f":{victim}" in r.getMessage() and "down" in r.getMessage() for r in caplog.records)
    # restart it on the same port: it serves again within 5 s, without any call failing
    ring[victim] = serverkit.start_memcached(victim, daemon=False)
    probe = next(
        k for k in keys if cache.store.client.node_for(f"{unique}:{k}").address.endswith(f":{victim}")
    )  # type: ignore[attr-defined]
    started = time.monotonic()
    while not (cache.put(probe, "back", 60) and cache.get(probe) == "back"):
        assert time.monotonic() - started < 5, "the restarted node did not rejoin within 5 s"
        time.sleep(0.05)
    rejoined = time.monotonic() - started
    print(f"RING-FIGURES hits={hits} misses={misses} errors=0 rejoined_in={rejoined:.2f}s")
    manager.purge()
