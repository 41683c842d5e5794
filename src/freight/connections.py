"""Client construction shared by the redis and database drivers of the cache and the queue.

Client libraries are imported lazily: a missing one raises
:class:`~freight.errors.MissingDependencyError` naming the extra to install.
SQLAlchemy engines are shared per URL within a process, so a cache store, a queue
connection and a failed-job store on one database use one pool.

Every client gets connect and read timeouts unless configured otherwise (redis
``socket_connect_timeout``/``socket_timeout`` 5 s; SQL ``connect_timeout`` 5 s, and on
MySQL/MariaDB ``read_timeout``/``write_timeout`` 30 s), so a hung server turns into an
error (and a failover) instead of a call that never returns.

Fork safety: in a child process (gunicorn ``--preload``, uWSGI, ``multiprocessing``)
every shared engine's pool is replaced without closing the parent's connections
(``Engine.dispose(close=False)``), and objects registered with :func:`after_fork`
drop the sockets they inherited; redis-py checks the process id itself.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from freight.errors import ConfigurationError, MissingDependencyError
from freight.redis_topology import describe_client, topology_client

if TYPE_CHECKING:
    import redis
    from sqlalchemy.engine import Engine

__all__ = ["after_fork", "async_redis_client", "describe_url", "redis_client", "sql_engine", "sql_timeouts"]

_ENGINES: dict[tuple[str, tuple[tuple[str, Any], ...]], Engine] = {}
_ENGINES_LOCK = threading.Lock()
#: engines handed in by the application (``engine``): their pools are replaced in a child too
_GIVEN_ENGINES: weakref.WeakSet[Any] = weakref.WeakSet()
_CHILD_RESETS: list[tuple[weakref.ref[Any], Callable[[Any], None]]] = []
#: seconds, unless configured: connecting, and (redis, MySQL) waiting for a reply
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 5.0
SQL_READ_TIMEOUT = 30
Owner = TypeVar("Owner")


def after_fork(owner: Owner, reset: Callable[[Owner], None]) -> None:
    """Call ``reset(owner)`` in every child forked while ``owner`` lives, before the child
    uses it: ``reset`` drops (never shuts down) the sockets the parent also holds."""
    _CHILD_RESETS.append((weakref.ref(owner), reset))


def _in_child() -> None:
    global _ENGINES_LOCK
    _ENGINES_LOCK = threading.Lock()  # another thread of the parent may have held it
    for engine in [*_ENGINES.values(), *_GIVEN_ENGINES]:
        engine.dispose(close=False)  # a new pool; the parent's connections stay open for it
    alive = [(ref, reset) for ref, reset in _CHILD_RESETS if ref() is not None]
    _CHILD_RESETS[:] = alive
    for ref, reset in alive:
        owner = ref()
        if owner is not None:
            reset(owner)


os.register_at_fork(after_in_child=_in_child)

_REDIS_OPTIONS = (
    "max_connections",
    "socket_timeout",
    "socket_connect_timeout",
    "socket_keepalive",
    "health_check_interval",
    "retry_on_timeout",
    "ssl",
    "username",
)


def describe_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user + ':***@' if ':' in creds else creds + '@'}{host}"


def redis_client(config: Mapping[str, Any], *, driver: str = "redis") -> redis.Redis:
    """A redis-py client from ``client`` (an existing instance), ``url``, or ``host/port/db/password``.

    ``url`` falls back to ``FREIGHT_REDIS_URL``; pool options (``max_connections``,
    ``socket_timeout``, ...) are passed through. A Redis Cluster (``cluster``,
    ``startup_nodes``, ``redis+cluster://``) or Sentinel (``sentinels``, ``service_name``,
    ``redis+sentinel://``) config gets that client (see :mod:`freight.redis_topology`).
    """
    existing = config.get("client")
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    try:
        import redis
    except ImportError as exc:
        raise MissingDependencyError("redis", "redis", driver) from exc
    options = {k: config[k] for k in _REDIS_OPTIONS if k in config}
    options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT)
    options.setdefault("socket_timeout", READ_TIMEOUT)
    topology = topology_client(config, options, driver)
    if topology is not None:
        return topology  # type: ignore[no-any-return]
    url = config.get("url") or (None if "host" in config else os.environ.get("FREIGHT_REDIS_URL"))
    if url:
        try:
            return redis.Redis.from_url(str(url), **options)
        except ValueError as exc:
            raise ConfigurationError(
                f"the {driver!r} driver got an invalid redis URL {describe_url(str(url))!r}: {exc}"
            ) from exc
    return redis.Redis(
        host=str(config.get("host", "127.0.0.1")),
        port=int(config.get("port", 6379)),
        db=int(config.get("db", 0)),
        password=config.get("password"),
        **options,
    )


def async_redis_client(config: Mapping[str, Any], *, driver: str = "redis") -> Any:
    """A ``redis.asyncio`` client for the same server and options as :func:`redis_client`
    (``async_client`` when the configuration hands one in). Bind one per event loop."""
    existing = config.get("async_client")
    if existing is not None:
        return existing
    try:
        import redis.asyncio as aioredis
    except ImportError as exc:
        raise MissingDependencyError("redis", "redis", driver) from exc
    options = {k: config[k] for k in _REDIS_OPTIONS if k in config}
    options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT)
    options.setdefault("socket_timeout", READ_TIMEOUT)
    topology = topology_client(config, options, driver, aio=True)
    if topology is not None:
        return topology
    url = config.get("url") or (None if "host" in config else os.environ.get("FREIGHT_REDIS_URL"))
    if url:
        return aioredis.Redis.from_url(str(url), **options)
    return aioredis.Redis(
        host=str(config.get("host", "127.0.0.1")),
        port=int(config.get("port", 6379)),
        db=int(config.get("db", 0)),
        password=config.get("password"),
        **options,
    )


def redis_address(client: Any) -> str:
    """``redis://host:port/db`` of a redis-py client (a cluster's or sentinel's), for error messages."""
    return describe_client(client)


def sql_engine(config: Mapping[str, Any], *, driver: str = "database") -> Engine:
    """The shared SQLAlchemy engine for ``config['url']`` (or ``engine``, an existing one)."""
    existing = config.get("engine")
    if existing is not None:
        _GIVEN_ENGINES.add(existing)
        return existing  # type: ignore[no-any-return]
    url = config.get("url")
    if not url:
        raise ConfigurationError(f"the {driver!r} driver needs a 'url' (a SQLAlchemy database URL)")
    try:
        import sqlalchemy
    except ImportError as exc:
        raise MissingDependencyError("SQLAlchemy", "database", driver) from exc
    url = _absolute_sqlite(str(url))
    _require_dbapi(url, driver)
    options = dict(config.get("engine_options") or {})
    key = (url, tuple(sorted((k, repr(v)) for k, v in options.items())))
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            if url.startswith("sqlite"):
                _ensure_sqlite_dir(url)
                options.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
            else:
                options.setdefault("pool_pre_ping", True)
                options["connect_args"] = {**sql_timeouts(url, config), **options.get("connect_args", {})}
            engine = sqlalchemy.create_engine(url, **options)
            _ENGINES[key] = engine
        return engine


def sql_timeouts(url: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The DBAPI's connect (and, on MySQL/MariaDB, read and write) timeouts for ``url``."""
    connect = int(config.get("connect_timeout", CONNECT_TIMEOUT))
    if url.startswith(("mysql", "mariadb")):
        read = int(config.get("read_timeout", SQL_READ_TIMEOUT))
        return {"connect_timeout": connect, "read_timeout": read, "write_timeout": read}
    if url.startswith("postgresql"):  # libpq has no read timeout; keepalives find a dead peer
        return {"connect_timeout": connect, "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}
    return {}


def _require_dbapi(url: str, driver: str) -> None:
    scheme = url.split("://", 1)[0]
    needs = {
        "postgresql+psycopg": ("psycopg", "postgres"),
        "postgresql": ("psycopg2", "postgres"),
        "mysql+pymysql": ("pymysql", "mysql"),
        "mariadb+pymysql": ("pymysql", "mysql"),
    }.get(scheme)
    if needs is None:
        return
    module, extra = needs
    try:
        __import__(module)
    except ImportError as exc:
        hint = " (or use postgresql+psycopg://)" if module == "psycopg2" else ""
        raise MissingDependencyError(module + hint, extra, driver) from exc


def _absolute_sqlite(url: str) -> str:
    """A SQLite URL with a relative file path made absolute against the current directory,
    so the shared engine for ``sqlite:///storage/x.sqlite3`` is never reused from another
    directory."""
    if not url.startswith("sqlite") or "///" not in url:
        return url
    head, path = url.split("///", 1)
    if not path or path.startswith((":memory:", "file:", "/")):
        return url
    return f"{head}///{os.path.abspath(path.split('?', 1)[0])}" + (
        "?" + path.split("?", 1)[1] if "?" in path else ""
    )


def _ensure_sqlite_dir(url: str) -> None:
    """Create the database file's directory, and the file itself readable by its owner only
    (0600, like cache files; SQLite gives its -wal and -shm files the same mode)."""
    path = url.split("///", 1)[1].split("?", 1)[0] if "///" in url else ""
    if path and path != ":memory:" and not path.startswith("file:"):
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        if not os.path.exists(path):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
