"""freight's cache stores, through the public API: ``CacheManager(config).store(name).put/get``.

Every store runs with its defaults (JSON codec, no expiry) under a prefix carrying the
run id. When a target cannot be reached the case is skipped with the reason. The
PostgreSQL store's tables carry the run id and are dropped afterwards; the SQLite
database and the file store live in the run's temporary directory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.harness import WARMUP, CacheCase, Unavailable, bench_keys
from benchmarks.servers import Env

__all__ = ["FREIGHT_CACHES", "freight_store"]


def freight_store(
    env: Env, backend: str, config: dict[str, Any], *, drop_tables: bool = False, forget: bool = False
) -> CacheCase:
    """A :class:`CacheCase` for one freight store built from ``config``."""
    try:
        from freight import CacheManager
    except ImportError as exc:  # the cache package is not there yet
        raise Unavailable(f"freight's cache is not importable: {exc}") from exc
    from freight.errors import MissingDependencyError

    manager = CacheManager({"default": "bench", "prefix": f"{env.prefix}:", "stores": {"bench": config}})
    try:
        repository = manager.store("bench")
    except MissingDependencyError as exc:
        raise Unavailable(str(exc)) from exc

    def close() -> None:
        try:
            if drop_tables:
                repository.store.drop_tables()  # type: ignore[attr-defined]
            elif forget:  # memcached cannot flush one prefix: delete the benchmark's keys
                for key in [*bench_keys(env.n), *(f"bench:warmup:{i}" for i in range(WARMUP))]:
                    repository.forget(key)
            else:
                repository.flush()
        finally:
            manager.purge()

    return CacheCase("freight", backend, repository.put, repository.get, close)


def _redis_config(env: Env) -> dict[str, Any]:
    if env.redis_client is not None:
        return {"driver": "redis", "client": env.redis_client}
    if env.redis_url is None:
        raise Unavailable(env.reason("redis"))
    return {"driver": "redis", "url": env.redis_url}


def array(env: Env) -> CacheCase:
    """The array store (a dict in this process)."""
    return freight_store(env, "memory", {"driver": "array"})


def file(env: Env) -> CacheCase:
    """The file store (one file per key under the run's directory)."""
    return freight_store(env, "file", {"driver": "file", "path": str(env.workdir / "freight-file")})


def redis(env: Env) -> CacheCase:
    """The redis store."""
    return freight_store(env, "redis", _redis_config(env))


def memcached(env: Env) -> CacheCase:
    """The memcached store."""
    if not env.memcached:
        raise Unavailable(env.reason("memcached"))
    config = {"driver": "memcached", "servers": list(env.memcached)}
    return freight_store(env, "memcached", config, forget=True)


def database_sqlite(env: Env) -> CacheCase:
    """The database store on a SQLite file."""
    url = f"sqlite:///{env.workdir / 'freight-cache.sqlite3'}"
    return freight_store(env, "sqlite", {"driver": "database", "url": url})


def database_postgres(env: Env) -> CacheCase:
    """The database store on PostgreSQL (tables named after the run, dropped afterwards)."""
    if env.postgres_url is None:
        raise Unavailable(env.reason("postgres"))
    config = {
        "driver": "database",
        "url": env.postgres_url,
        "table": f"{env.prefix}_cache",
        "lock_table": f"{env.prefix}_cache_locks",
    }
    return freight_store(env, "postgres", config, drop_tables=True)


FREIGHT_CACHES: list[tuple[str, str, Callable[[Env], CacheCase]]] = [
    ("freight", "memory", array),
    ("freight", "file", file),
    ("freight", "redis", redis),
    ("freight", "memcached", memcached),
    ("freight", "sqlite", database_sqlite),
    ("freight", "postgres", database_postgres),
]
"""(library, backend, factory) for every freight store."""
