"""Arbitrary keys (issue 5, item 8): any unicode key (control characters, CRLF, spaces,
10,000 characters) round-trips on every store, and on memcached a key can never write,
read or delete a different key (no protocol injection, no collisions)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from freight.cache.manager import CacheManager

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
any_char = st.characters(codec="utf-8")  # every code point except lone surrogates
keys = st.one_of(
    st.text(any_char, max_size=40),
    st.text(st.sampled_from(" \r\n\t\x00\x7f:/\\.%{}*?"), min_size=1, max_size=20),
    st.integers(min_value=200, max_value=10_000).map(lambda n: "k" * n),
)
INJECTIONS = [
    "a\r\nset {target} 0 0 1\r\nX\r\n",
    "a {target}",
    "a\nflush_all\r\n",
    "\x00{target}",
    "{target}\r\n",
    " {target}",
    "{target} ",
]


def _stores(tmp_path: Path, memcached: list[str], redis_url: str) -> dict[str, Any]:
    return {
        "array": {"driver": "array"},
        "file": {"driver": "file", "path": str(tmp_path / "cache")},
        "redis": {"driver": "redis", "url": redis_url},
        "memcached": {"driver": "memcached", "servers": memcached},
        "database": {"driver": "database", "url": f"sqlite:///{tmp_path}/cache.sqlite3", "table": "cache"},
    }


@pytest.fixture
def manager(tmp_path: Path, memcached_servers: list[str], redis_url: str) -> Iterator[CacheManager]:
    prefix = f"keys{uuid.uuid4().hex[:8]}"
    mgr = CacheManager(
        {
            "default": "array",
            "prefix": prefix,
            "stores": _stores(tmp_path, memcached_servers, redis_url),
        }
    )
    yield mgr
    for name in ("redis", "memcached"):
        mgr.store(name).flush()  # this prefix only on redis; memcached is this worker's private server
    mgr.purge()


@pytest.mark.parametrize("store", ["array", "file", "redis", "memcached", "database"])
def test_any_key_round_trips(manager: CacheManager, store: str) -> None:
    repo = manager.store(store)

    @SETTINGS
    @given(k1=keys, k2=keys)
    @example(k1="a\r\nb", k2="a\nb")
    @example(k1="x" * 10_000, k2="x" * 9_999 + "y")
    @example(k1="key with spaces", k2="key_with_spaces")
    def check(k1: str, k2: str) -> None:
        repo.put(k1, {"k": k1}, 60)
        assert repo.get(k1) == {"k": k1}
        if k1 != k2:
            repo.put(k2, {"k": k2}, 60)
            assert repo.get(k1) == {"k": k1}, f"writing {k2!r} changed {k1!r}"
            assert repo.get(k2) == {"k": k2}
            assert repo.forget(k2)
            assert repo.get(k1) == {"k": k1}, f"forgetting {k2!r} removed {k1!r}"
        assert repo.forget(k1) and repo.get(k1) is None

    check()


def test_memcached_keys_cannot_inject_commands(manager: CacheManager, memcached_servers: list[str]) -> None:
    from pymemcache.client.base import Client

    repo = manager.store("memcached")
    host, _, port = memcached_servers[0].rpartition(":")
    raw = Client((host, int(port)), connect_timeout=2, timeout=2)
    target = f"victim{uuid.uuid4().hex[:8]}"
    raw.set(target, b"original")
    try:
        for pattern in INJECTIONS:
            key = pattern.format(target=target)
            assert repo.put(key, "attack", 60)
            assert repo.get(key) == "attack"
            assert raw.get(target) == b"original", f"key {key!r} wrote {target!r}"
            repo.increment(key + "n")
            repo.forget(key)
            assert raw.get(target) == b"original", f"key {key!r} deleted or changed {target!r}"
    finally:
        raw.delete(target)
        raw.close()
