"""Cache baselines: raw clients with freight's codec, Django's cache backends, cachelib, diskcache.

Every case stores the same small dict under N distinct keys without expiry, then reads
them back. Raw clients encode with :class:`freight.serialization.JsonCodec`, so they
measure the floor freight's redis and memcached stores could reach; the peer libraries
use their own default serializer (pickle). Bounded peers get a size limit above N so
that no entry is culled during the run (Django ``MAX_ENTRIES``, cachelib ``threshold``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from benchmarks.harness import CacheCase, Unavailable
from benchmarks.servers import Env
from freight.serialization import JsonCodec

__all__ = ["PEER_CACHES"]

# Django's FileBasedCache lists its whole directory on every set (to decide whether to
# cull), so its cost grows with the number of entries; it is run on at most this many.
DJANGO_FILE_CAP = 5000


def _needs(module: str, extra: str = "bench") -> Any:
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as exc:
        raise Unavailable(f"{module} is not installed (pip install -e '.[{extra}]')") from exc


def _redis_client(env: Env) -> Any:
    if env.redis_client is not None:
        return env.redis_client
    if env.redis_url is None:
        raise Unavailable(env.reason("redis"))
    redis = _needs("redis", "redis")
    return redis.Redis.from_url(env.redis_url)


def _memcached_server(env: Env) -> tuple[str, int]:
    if not env.memcached:
        raise Unavailable(env.reason("memcached"))
    host, _, port = env.memcached[0].rpartition(":")
    return host, int(port)


def raw_redis(env: Env) -> CacheCase:
    """redis-py SET/GET with the JSON codec: the floor for freight's redis store."""
    client, codec = _redis_client(env), JsonCodec()
    prefix = f"{env.prefix}:raw:"
    dumps, loads, set_, get_ = codec.dumps, codec.loads, client.set, client.get

    def get(key: str) -> Any:
        data = get_(prefix + key)
        return None if data is None else loads(data)

    def close() -> None:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])

    return CacheCase("raw redis-py", "redis", lambda k, v: set_(prefix + k, dumps(v)), get, close)


def raw_pymemcache(env: Env) -> CacheCase:
    """pymemcache set/get (waiting for each reply) with the JSON codec."""
    pymemcache = _needs("pymemcache.client.base", "memcached")
    client = pymemcache.Client(_memcached_server(env), default_noreply=False)
    codec = JsonCodec()
    prefix = f"{env.prefix}:raw:"
    dumps, loads, set_, get_ = codec.dumps, codec.loads, client.set, client.get

    def get(key: str) -> Any:
        data = get_(prefix + key)
        return None if data is None else loads(data)

    return CacheCase(
        "raw pymemcache", "memcached", lambda k, v: set_(prefix + k, dumps(v)), get, client.close
    )


__all__ += ["configure_django"]


def _django_databases(env: Env) -> dict[str, Any]:
    databases: dict[str, Any] = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(env.workdir / "django-cache.sqlite3")}
    }
    if env.postgres_url:
        url = urlsplit(env.postgres_url.replace("+psycopg", ""))
        databases["pg"] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": url.path.lstrip("/"),
            "USER": unquote(url.username or ""),
            "PASSWORD": unquote(url.password or ""),
            "HOST": url.hostname or "127.0.0.1",
            "PORT": str(url.port or 5432),
        }
    return databases


class _Router:
    """Sends the cache table named ``*_pg`` to PostgreSQL, the others to SQLite."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return "pg" if model._meta.db_table.endswith("_pg") else "default"

    db_for_write = db_for_read


def configure_django(env: Env) -> None:
    """Configure Django once per process: no cache aliases, a SQLite and a PostgreSQL database
    (for DatabaseCache; the router sends tables named ``*_pg`` to PostgreSQL)."""
    _needs("django")
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            CACHES={}, USE_TZ=True, DATABASES=_django_databases(env), DATABASE_ROUTERS=[_Router()]
        )


def _django_cache(env: Env, backend: str, location: str | None, **options: Any) -> Any:
    configure_django(env)
    from django.utils.module_loading import import_string

    params: dict[str, Any] = {"KEY_PREFIX": f"{env.prefix}dj", "TIMEOUT": None, "OPTIONS": options}
    # what django.core.cache.caches does for one alias, without a settings entry per case
    return import_string(backend)(location or "", params)


def _django_case(name: str, backend: str, cache: Any, cap: int | None = None, note: str = "") -> CacheCase:
    set_, get_ = cache.set, cache.get
    return CacheCase(name, backend, lambda k, v: set_(k, v, None), get_, cache.close, cap, note)


def django_redis(env: Env) -> CacheCase:
    """Django's built-in RedisCache (redis-py, pickle)."""
    if env.redis_url is None:
        raise Unavailable(env.reason("redis"))
    cache = _django_cache(env, "django.core.cache.backends.redis.RedisCache", env.redis_url)
    return _django_case("Django RedisCache", "redis", cache)


def django_memcached(env: Env) -> CacheCase:
    """Django's PyMemcacheCache."""
    host, port = _memcached_server(env)
    backend = "django.core.cache.backends.memcached.PyMemcacheCache"
    return _django_case("Django PyMemcacheCache", "memcached", _django_cache(env, backend, f"{host}:{port}"))


def django_file(env: Env) -> CacheCase:
    """Django's FileBasedCache (one pickled, zlib-compressed file per key)."""
    path = env.workdir / "django-file"
    backend = "django.core.cache.backends.filebased.FileBasedCache"
    cache = _django_cache(env, backend, str(path), MAX_ENTRIES=env.n * 2)
    note = f"at most {DJANGO_FILE_CAP} keys: every set lists the cache directory"
    return _django_case("Django FileBasedCache", "file", cache, DJANGO_FILE_CAP, note)


def django_locmem(env: Env) -> CacheCase:
    """Django's LocMemCache (in-process dict of pickles)."""
    backend = "django.core.cache.backends.locmem.LocMemCache"
    cache = _django_cache(env, backend, f"{env.prefix}-locmem", MAX_ENTRIES=env.n * 2)
    return _django_case("Django LocMemCache", "memory", cache)


def _cachelib_case(name: str, backend: str, cache: Any) -> CacheCase:
    set_, get_ = cache.set, cache.get
    return CacheCase(name, backend, lambda k, v: set_(k, v, 0), get_)


def cachelib_simple(env: Env) -> CacheCase:
    """cachelib SimpleCache (in-process dict of pickles)."""
    cachelib = _needs("cachelib")
    return _cachelib_case("cachelib SimpleCache", "memory", cachelib.SimpleCache(threshold=env.n * 2))


def cachelib_file(env: Env) -> CacheCase:
    """cachelib FileSystemCache without a size threshold (no entry counting)."""
    cachelib = _needs("cachelib")
    cache = cachelib.FileSystemCache(str(env.workdir / "cachelib"), threshold=0, default_timeout=0)
    return _cachelib_case("cachelib FileSystemCache", "file", cache)


def cachelib_redis(env: Env) -> CacheCase:
    """cachelib RedisCache (redis-py, pickle)."""
    cachelib = _needs("cachelib")
    client = _redis_client(env)
    cache = cachelib.RedisCache(host=client, key_prefix=f"{env.prefix}:cachelib:", default_timeout=0)
    return _cachelib_case("cachelib RedisCache", "redis", cache)


def diskcache_cache(env: Env) -> CacheCase:
    """diskcache.Cache (SQLite index, small values inline)."""
    diskcache = _needs("diskcache")
    cache = diskcache.Cache(str(Path(env.workdir) / "diskcache"))
    set_, get_ = cache.set, cache.get
    return CacheCase("diskcache", "file", lambda k, v: set_(k, v), get_, cache.close)


PEER_CACHES: list[tuple[str, str, Callable[[Env], CacheCase]]] = [
    ("raw redis-py", "redis", raw_redis),
    ("raw pymemcache", "memcached", raw_pymemcache),
    ("Django RedisCache", "redis", django_redis),
    ("Django PyMemcacheCache", "memcached", django_memcached),
    ("Django FileBasedCache", "file", django_file),
    ("Django LocMemCache", "memory", django_locmem),
    ("cachelib SimpleCache", "memory", cachelib_simple),
    ("cachelib FileSystemCache", "file", cachelib_file),
    ("cachelib RedisCache", "redis", cachelib_redis),
    ("diskcache", "file", diskcache_cache),
]
"""(library, backend, factory) for every baseline cache."""
