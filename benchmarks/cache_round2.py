"""Cache round 2 cases: tagged reads, ``remember`` on a hit and on a miss, Django's DatabaseCache.

* ``freight tagged`` (redis): ``cache.tags("bench").put`` / ``.get``: a tagged write and a
  tagged read (one Lua script each on one server), against the plain freight get.
* ``freight remember`` (every freight store): ``put``, then ``remember(key, None, fn)`` on
  keys that are all present: the cost of ``remember`` on a hit against ``get``.
* ``freight remember miss`` (redis, sqlite): ``get`` is ``remember`` on a key that is never
  there (single flight: the store's lock is taken, the key read again, computed, stored,
  released), against ``remember(..., lock=False)`` (``freight remember miss, no lock``):
  the single-flight overhead on a miss.
* ``Django DatabaseCache`` (sqlite, postgres): the peer of the database store.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from benchmarks.cache_freight import FREIGHT_CACHES
from benchmarks.cache_peers import configure_django
from benchmarks.harness import CacheCase, Unavailable
from benchmarks.servers import Env

__all__ = ["ROUND2_CACHES"]


def _never() -> Any:
    raise AssertionError("remember called its builder on a hit")


def _freight(env: Env, backend: str) -> CacheCase:
    for _, name, factory in FREIGHT_CACHES:
        if name == backend:
            return factory(env)
    raise Unavailable(f"no freight store for {backend}")


def _repository(case: CacheCase) -> Any:
    """The freight Repository behind a freight case (its ``put`` is the repository's bound method)."""
    return case.put.__self__  # type: ignore[attr-defined]


def tagged(backend: str) -> Callable[[Env], CacheCase]:
    """Writes and reads through ``cache.tags("bench")``."""

    def build(env: Env) -> CacheCase:
        plain = _freight(env, backend)
        view = _repository(plain).tags("bench")
        return CacheCase("freight tagged", backend, view.put, view.get, plain.close)

    return build


def remember_hit(backend: str) -> Callable[[Env], CacheCase]:
    """``remember`` on keys that are all present."""

    def build(env: Env) -> CacheCase:
        plain = _freight(env, backend)
        remember = _repository(plain).remember
        return CacheCase(
            "freight remember", backend, plain.put, lambda k: remember(k, None, _never), plain.close
        )

    return build


def remember_miss(backend: str, lock: bool) -> Callable[[Env], CacheCase]:
    """``remember`` on a key never seen before (a counter makes every call a miss); the builder
    returns what ``put`` wrote for the key, so the run's checks still hold."""

    def build(env: Env) -> CacheCase:
        plain = _freight(env, backend)
        repository = _repository(plain)
        remember, written, calls = repository.remember, {}, itertools.count()

        def put(key: str, value: Any) -> object:
            written[key] = value
            return repository.put(key, value)

        def get(key: str) -> Any:
            return remember(f"miss:{next(calls)}:{key}", None, lambda: written[key], lock=lock)

        name = "freight remember miss" + ("" if lock else ", no lock")
        return CacheCase(name, backend, put, get, plain.close)

    return build


def django_database(backend: str) -> Callable[[Env], CacheCase]:
    """Django's DatabaseCache on SQLite or PostgreSQL (its table created as createcachetable does)."""

    def build(env: Env) -> CacheCase:
        try:
            from django.conf import settings
        except ImportError as exc:
            raise Unavailable("django is not installed (pip install -e '.[bench]')") from exc
        if backend == "postgres" and env.postgres_url is None:
            raise Unavailable(env.reason("postgres"))
        configure_django(env)
        if backend == "postgres" and "pg" not in settings.DATABASES:
            raise Unavailable("Django was configured before the PostgreSQL peer could add its database")
        from django.core.cache.backends.db import DatabaseCache
        from django.db import connections

        alias = "pg" if backend == "postgres" else "default"
        table = f"{env.prefix}_djcache_{'pg' if alias == 'pg' else 'sq'}"
        from django.db.models import DateTimeField

        expires = DateTimeField().db_type(connections[alias])  # the column type createcachetable uses
        with connections[alias].cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (cache_key varchar(255) NOT NULL PRIMARY KEY, "
                f"value text NOT NULL, expires {expires} NOT NULL)"
            )
        options = {"MAX_ENTRIES": env.n * 4}  # no culling during the run
        cache = DatabaseCache(table, {"KEY_PREFIX": env.prefix, "TIMEOUT": None, "OPTIONS": options})

        def close() -> None:
            with connections[alias].cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            connections[alias].close()

        set_, get_ = cache.set, cache.get
        return CacheCase("Django DatabaseCache", backend, lambda k, v: set_(k, v, None), get_, close)

    return build


ROUND2_CACHES: list[tuple[str, str, Callable[[Env], CacheCase]]] = [
    ("freight tagged", "redis", tagged("redis")),
    ("freight remember", "redis", remember_hit("redis")),
    ("freight remember", "memory", remember_hit("memory")),
    ("freight remember miss", "redis", remember_miss("redis", lock=True)),
    ("freight remember miss, no lock", "redis", remember_miss("redis", lock=False)),
    ("Django DatabaseCache", "sqlite", django_database("sqlite")),
    ("Django DatabaseCache", "postgres", django_database("postgres")),
]
"""(library, backend, factory) for the round 2 cases."""
