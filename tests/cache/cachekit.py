"""Helpers of the cache contract suite: the backends, a fake clock, capabilities, a down store."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from freight.cache.lock import Lock
from freight.cache.manager import CacheManager
from freight.cache.repository import Repository
from freight.cache.stores.base import Store
from freight.errors import CacheConnectionError

BACKENDS = [
    "array",
    "file",
    "null",
    "failover",
    "redis",
    "cluster",
    "sentinel",
    "fakeredis",
    "memcached",
    "ring",
    "sqlite",
    "postgres",
    "mysql",
]


class FakeClock:
    """A wall clock that only moves when told to (starts at the real time)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Caps:
    """What a backend can be expected to do."""

    persists: bool
    """it keeps values (False only for the null store)"""
    uses_clock: bool
    """expiry follows the injected clock, so tests travel in time instead of sleeping"""
    shared: bool
    """another manager on the same config ("another process") sees the same data"""
    flush_scoped: bool
    """flush() removes this prefix only (memcached clears the whole server)"""


#: each backend's capabilities, known before any store is built (the env fixture checks
#: them against the real store's flags), so cases that do not apply are never generated
CAPS: dict[str, Caps] = {
    "array": Caps(persists=True, uses_clock=True, shared=False, flush_scoped=True),
    "file": Caps(persists=True, uses_clock=True, shared=True, flush_scoped=True),
    "null": Caps(persists=False, uses_clock=False, shared=False, flush_scoped=True),
    "failover": Caps(persists=True, uses_clock=True, shared=True, flush_scoped=True),
    "redis": Caps(persists=True, uses_clock=False, shared=True, flush_scoped=True),
    "cluster": Caps(persists=True, uses_clock=False, shared=True, flush_scoped=True),
    "sentinel": Caps(persists=True, uses_clock=False, shared=True, flush_scoped=True),
    "fakeredis": Caps(persists=True, uses_clock=False, shared=True, flush_scoped=True),
    "memcached": Caps(persists=True, uses_clock=False, shared=True, flush_scoped=False),
    "ring": Caps(persists=True, uses_clock=False, shared=True, flush_scoped=False),
    "sqlite": Caps(persists=True, uses_clock=True, shared=True, flush_scoped=True),
    "postgres": Caps(persists=True, uses_clock=True, shared=True, flush_scoped=True),
    "mysql": Caps(persists=True, uses_clock=True, shared=True, flush_scoped=True),
}


def needs(predicate: Callable[[Caps], bool]) -> pytest.MarkDecorator:
    """Generate a contract case only for the backends whose capabilities satisfy ``predicate``."""
    return pytest.mark.applies("env", lambda backend: predicate(CAPS[backend]))


#: the backend keeps values (every store but null)
persistent = needs(lambda caps: caps.persists)
#: expiry follows the injected clock, so the test can travel in time
time_travel = needs(lambda caps: caps.persists and caps.uses_clock)
#: the server keeps time itself (redis, memcached): one real wait
server_time = needs(lambda caps: caps.persists and not caps.uses_clock)
#: flush() stays inside the store's prefix
flush_scoped = needs(lambda caps: caps.persists and caps.flush_scoped)


class DownStore(Store):
    """A store whose server is always unreachable (the first store of the failover param)."""

    driver = "down"

    def _down(self) -> CacheConnectionError:
        self.calls = getattr(self, "calls", 0) + 1
        return CacheConnectionError(f"cache store {self.name!r}: connection refused (127.0.0.1:1)")

    def get(self, key: str) -> bytes | None:
        raise self._down()

    def put(self, key: str, value: bytes, seconds: float | None) -> bool:
        raise self._down()

    def add(self, key: str, value: bytes, seconds: float | None) -> bool:
        raise self._down()

    def increment(self, key: str, by: int = 1) -> int:
        raise self._down()

    def forget(self, key: str) -> bool:
        raise self._down()

    def flush(self) -> bool:
        raise self._down()

    def touch(self, key: str, seconds: float | None) -> bool:
        raise self._down()

    def lock(self, name: str, seconds: float = 0, owner: str | None = None) -> Lock:
        store = self

        class DownLock(Lock):
            def acquire(self) -> bool:
                raise store._down()

            def release(self) -> bool:
                raise store._down()

            def force_release(self) -> None:
                raise store._down()

            def current_owner(self) -> str | None:
                raise store._down()

            def refresh(self, seconds: float | None = None) -> bool:
                raise store._down()

        return DownLock(name, seconds, owner)


def down_store(config: dict[str, Any], manager: Any) -> DownStore:
    """Factory of :class:`DownStore` for ``CacheManager.extend``."""
    return DownStore(name=config["name"], prefix=config["prefix"], clock=manager.clock)


@dataclass
class CacheEnv:
    """One backend under test: its manager, default repository, clock and capabilities."""

    backend: str
    config: dict[str, Any]
    clock: FakeClock
    caps: Caps
    manager: CacheManager
    managers: list[CacheManager] = field(default_factory=list)

    @property
    def cache(self) -> Repository:
        return self.manager.store()

    def new_manager(self, prefix: str | None = None, version: int | None = None) -> CacheManager:
        """Another manager on the same configuration (optionally another prefix or version)."""
        config = dict(self.config)
        if prefix is not None:
            config["prefix"] = prefix
        if version is not None:
            config["version"] = version
        manager = CacheManager(config, clock=self.clock)
        manager.extend("down", down_store)
        self.managers.append(manager)
        return manager

    def other_process(self) -> Repository:
        """The same store as seen from another process (the same repository when not shared)."""
        return self.new_manager().store() if self.caps.shared else self.cache


# -- one builder per backend: (stores config, extra caps overrides) ----------------------
Builder = Callable[[pytest.FixtureRequest, str, Path], dict[str, Any]]


def _sql(fixture: str) -> Builder:
    def build(request: pytest.FixtureRequest, unique: str, tmp: Path) -> dict[str, Any]:
        url = request.getfixturevalue(fixture)
        return {
            "driver": "database",
            "url": url,
            "table": unique + "_cache",
            "lock_table": unique + "_locks",
        }

    return build


def _fakeredis(request: pytest.FixtureRequest, unique: str, tmp: Path) -> dict[str, Any]:
    fakeredis = pytest.importorskip("fakeredis")
    server = fakeredis.FakeServer()  # one server behind the sync and the asyncio client
    return {
        "driver": "redis",
        "client": fakeredis.FakeRedis(server=server),
        "async_client": fakeredis.FakeAsyncRedis(server=server),
    }


BUILDERS: dict[str, Builder] = {
    "array": lambda request, unique, tmp: {"driver": "array"},
    "file": lambda request, unique, tmp: {"driver": "file", "path": str(tmp / "cache")},
    "null": lambda request, unique, tmp: {"driver": "null"},
    "failover": lambda request, unique, tmp: {"driver": "failover", "stores": ["down", "file"]},
    "redis": lambda request, unique, tmp: {"driver": "redis", "url": request.getfixturevalue("redis_url")},
    "cluster": lambda request, unique, tmp: {
        "driver": "redis",
        "cluster": True,
        "startup_nodes": request.getfixturevalue("redis_cluster_nodes"),
    },
    "sentinel": lambda request, unique, tmp: {
        "driver": "redis",
        "sentinels": request.getfixturevalue("redis_sentinels"),
        "service_name": "freight-test",
    },
    "fakeredis": _fakeredis,
    "memcached": lambda request, unique, tmp: {
        "driver": "memcached",
        "servers": request.getfixturevalue("memcached_servers"),
    },
    "ring": lambda request, unique, tmp: {
        "driver": "memcached",
        "servers": request.getfixturevalue("memcached_ring"),
    },
    "sqlite": _sql("sqlite_url"),
    "postgres": _sql("postgres_url"),
    "mysql": _sql("mysql_url"),
}
