"""The cache contract's backends: one parametrised ``env`` fixture over every store.

Each backend is built by its own small function (cachekit.BUILDERS) that asks for its
server fixture via ``request.getfixturevalue``, so an unreachable server skips (or, in
CI, fails) only its own parameter. Every store gets ``prefix=unique``; SQL tables are
named after ``unique`` too and dropped afterwards. Differences between backends are
described by :class:`cachekit.Caps`, never by copies of the suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cachekit import BACKENDS, BUILDERS, CAPS, CacheEnv, Caps, FakeClock, down_store

from freight.cache.manager import CacheManager
from freight.cache.repository import Repository
from freight.cache.stores.base import Store


def _caps(backend: str, store: Store) -> Caps:
    if backend == "failover":  # over "down" then a file store
        return Caps(persists=True, uses_clock=True, shared=True, flush_scoped=True)
    return Caps(
        persists=store.persists,
        uses_clock=store.uses_clock,
        shared=store.shared,
        flush_scoped=store.driver != "memcached",
    )


def _drop_tables(store_config: dict[str, Any]) -> None:
    import sqlalchemy

    from freight.connections import sql_engine

    engine = sql_engine(store_config)
    with engine.begin() as conn:
        for table in (store_config["table"], store_config["lock_table"]):
            conn.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {table}"))


@pytest.fixture(params=BACKENDS)
def env(request: pytest.FixtureRequest, unique: str, tmp_path: Path) -> Iterator[CacheEnv]:
    """Every backend in turn, with a fresh prefix (and tables) per test."""
    backend: str = request.param
    store_config = BUILDERS[backend](request, unique, tmp_path)
    stores: dict[str, Any] = {"main": store_config}
    if backend == "failover":
        stores["down"] = {"driver": "down"}
        stores["file"] = {"driver": "file", "path": str(tmp_path / "cache")}
    config = {"default": "main", "prefix": unique, "stores": stores}
    clock = FakeClock()
    manager = CacheManager(config, clock=clock)
    manager.extend("down", down_store)
    repository = manager.store()
    caps = _caps(backend, repository.store)
    assert caps == CAPS[backend], f"cachekit.CAPS[{backend!r}] is out of date: {caps}"
    cache_env = CacheEnv(backend, config, clock, caps, manager)
    cache_env.managers.append(manager)
    try:
        yield cache_env
    finally:
        try:
            if cache_env.caps.persists and backend not in {"array", "file", "failover", "sqlite"}:
                for m in cache_env.managers:
                    m.store().flush()
            if store_config.get("driver") == "database" and backend != "sqlite":
                _drop_tables(store_config)
        finally:
            for m in cache_env.managers:
                m.purge()


@pytest.fixture
def cache(env: CacheEnv) -> Repository:
    """The default repository of the backend under test."""
    return env.cache


@pytest.fixture
def clock(env: CacheEnv) -> FakeClock:
    """The backend's injected clock."""
    return env.clock
