"""Redis Cluster and Redis Sentinel clients for the redis cache store and queue connection.

A store or connection config picks its topology:

* one server (the default): ``url`` or ``host``/``port``/``db``;
* **Redis Cluster**: ``cluster = true`` with ``startup_nodes = ["host:port", ...]`` (or a
  ``url``/``host`` of any one node), or a ``redis+cluster://host:port,host:port`` URL.
  redis-py's ``RedisCluster`` follows MOVED/ASK redirections and re-reads the slot map
  after a failover;
* **Redis Sentinel**: ``sentinels = ["host:port", ...]`` with ``service_name`` (and
  ``db``, ``password``, ``sentinel_password``), or a
  ``redis+sentinel://host:port,host:port/<service_name>/<db>`` URL. Every new connection
  asks the sentinels for the current master; a connection to a demoted master fails and
  the next one finds the new master.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from freight.errors import ConfigurationError

__all__ = [
    "describe_client",
    "in_failover",
    "is_cluster",
    "master_watch",
    "parse_nodes",
    "primaries",
    "rediscover",
    "topology_client",
]

#: error replies of a server that is changing roles, loading or has lost its replicas: the
#: same command succeeds once the failover ends, so callers treat them as "unreachable"
FAILOVER_REPLIES = ("NOREPLICAS", "READONLY", "MASTERDOWN", "LOADING", "TRYAGAIN", "CLUSTERDOWN")
_FAILOVER_REPLY = re.compile(r"(?:^|caused error: )(?:" + "|".join(FAILOVER_REPLIES) + r")\b")
_FAILOVER_ERRORS = frozenset({"ClusterDownError", "TryAgainError", "ReadOnlyError", "BusyLoadingError"})
CLUSTER_SCHEME = "redis+cluster"
SENTINEL_SCHEME = "redis+sentinel"


def parse_nodes(nodes: str | Sequence[Any], driver: str, key: str) -> list[tuple[str, int]]:
    """``["host:port", ...]`` (or ``"host:port,host:port"``, or (host, port) pairs) as pairs."""
    items = nodes.split(",") if isinstance(nodes, str) else list(nodes)
    pairs: list[tuple[str, int]] = []
    for item in items:
        if isinstance(item, list | tuple) and len(item) == 2:
            pairs.append((str(item[0]), int(item[1])))
            continue
        text = str(item).strip()
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ConfigurationError(
                f"the {driver!r} driver's {key!r} must be a list of 'host:port' strings, got {item!r}"
            )
        pairs.append((host.strip("[]"), int(port)))
    if not pairs:
        raise ConfigurationError(f"the {driver!r} driver's {key!r} is empty: name at least one 'host:port'")
    return pairs


def _url_parts(url: str) -> tuple[str, list[str], str | None, str | None]:
    """(scheme, ["host:port", ...], username, password) of a multi-host URL."""
    parts = urlsplit(url)
    netloc = parts.netloc
    user = password = None
    if "@" in netloc:
        creds, netloc = netloc.rsplit("@", 1)
        user, _, pw = creds.partition(":")
        user, password = unquote(user) or None, unquote(pw) or None
    return parts.scheme, [h for h in netloc.split(",") if h], user, password


def topology_client(
    config: Mapping[str, Any], options: dict[str, Any], driver: str, *, aio: bool = False
) -> Any:
    """A cluster or sentinel client when ``config`` asks for one, else None (``redis.asyncio``
    classes with ``aio``)."""
    url = str(config.get("url") or "")
    if url.startswith(CLUSTER_SCHEME + "://"):
        scheme, hosts, user, password = _url_parts(url)
        if user:
            options.setdefault("username", user)
        return _cluster(parse_nodes(hosts, driver, "url"), password or config.get("password"), options, aio)
    if url.startswith(SENTINEL_SCHEME + "://"):
        scheme, hosts, user, password = _url_parts(url)
        path = [p for p in urlsplit(url).path.split("/") if p]
        service = path[0] if path else config.get("service_name")
        db = int(path[1]) if len(path) > 1 else int(config.get("db", 0))
        return _sentinel(
            parse_nodes(hosts, driver, "url"),
            service,
            db,
            password or config.get("password"),
            config,
            options,
            aio,
        )
    if config.get("sentinels"):
        return _sentinel(
            parse_nodes(config["sentinels"], driver, "sentinels"),
            config.get("service_name"),
            int(config.get("db", 0)),
            config.get("password"),
            config,
            options,
            aio,
        )
    if config.get("cluster") or config.get("startup_nodes"):
        nodes = config.get("startup_nodes")
        if not nodes:
            if url:
                parsed = urlsplit(url)
                nodes = [f"{parsed.hostname or '127.0.0.1'}:{parsed.port or 6379}"]
                if parsed.password:
                    options.setdefault("password", unquote(parsed.password))
            else:
                nodes = [f"{config.get('host', '127.0.0.1')}:{config.get('port', 6379)}"]
        if int(config.get("db", 0)) != 0:
            raise ConfigurationError(f"the {driver!r} driver: Redis Cluster has only database 0 (db = 0)")
        return _cluster(parse_nodes(nodes, driver, "startup_nodes"), config.get("password"), options, aio)
    return None


def _cluster(nodes: list[tuple[str, int]], password: Any, options: dict[str, Any], aio: bool) -> Any:
    if aio:
        from redis.asyncio.cluster import ClusterNode as AsyncNode
        from redis.asyncio.cluster import RedisCluster as AsyncCluster

        node: Any = AsyncNode
        cluster: Any = AsyncCluster
    else:
        from redis.cluster import ClusterNode, RedisCluster

        node, cluster = ClusterNode, RedisCluster  # untyped in redis-py
    if password and "password" not in options:
        options["password"] = password
    options.pop("db", None)
    return cluster(startup_nodes=[node(h, p) for h, p in nodes], **options)


def _sentinel(
    nodes: list[tuple[str, int]],
    service: Any,
    db: int,
    password: Any,
    config: Mapping[str, Any],
    options: dict[str, Any],
    aio: bool,
) -> Any:
    from redis.asyncio.sentinel import Sentinel as AsyncSentinel
    from redis.sentinel import Sentinel as UntypedSentinel

    sentinel_class: Any = AsyncSentinel if aio else UntypedSentinel  # untyped in redis-py
    if not service:
        raise ConfigurationError(
            "a Redis Sentinel config needs 'service_name' (the name the sentinels monitor, "
            "as in 'sentinel monitor <name> ...')"
        )
    sentinel_options: dict[str, Any] = {
        k: options[k] for k in ("socket_timeout", "socket_connect_timeout") if k in options
    }
    if config.get("sentinel_password"):
        sentinel_options["password"] = config["sentinel_password"]
    sentinel = sentinel_class(nodes, sentinel_kwargs=sentinel_options, **sentinel_options)
    return sentinel.master_for(str(service), db=db, password=password, **options)


def in_failover(exc: BaseException) -> bool:
    """True for a redis error that a failover in progress explains (see ``FAILOVER_REPLIES``)."""
    for cause in (exc, exc.__cause__, exc.__context__):
        if cause is not None and type(cause).__name__ in _FAILOVER_ERRORS:
            return True
    return _FAILOVER_REPLY.search(str(exc)) is not None


def rediscover(client: Any) -> None:
    """After a failover error: drop a Sentinel client's connections, so the next command asks
    the sentinels for the current master (a cluster client re-reads its slot map by itself)."""
    pool = getattr(client, "connection_pool", None)
    if getattr(pool, "service_name", None) is not None:
        pool.disconnect()  # type: ignore[union-attr]


def master_watch(client: Any, interval: float = 0.25) -> Callable[[], None] | None:
    """For a Sentinel client, a check to call often: at most every ``interval`` seconds it asks
    the sentinels for the master, and a changed answer closes the idle connections to the old
    one (redis-py's ``get_master_address``). A demoted master keeps accepting writes until the
    sentinels reconfigure it, which can take seconds; this bounds the work done on it. None
    for other clients."""
    pool = getattr(client, "connection_pool", None)
    if getattr(pool, "service_name", None) is None:
        return None
    due = [0.0]

    def check() -> None:
        now = time.monotonic()
        if now >= due[0]:
            due[0] = now + interval
            try:
                pool.get_master_address()  # type: ignore[union-attr]
            except Exception:  # noqa: S110 - the next command reports an unreachable server
                pass

    return check


def is_cluster(client: Any) -> bool:
    """True for a redis-py ``RedisCluster`` client."""
    return hasattr(client, "nodes_manager")


def primaries(client: Any) -> list[Any]:
    """Redis clients of every master: each node of a cluster, or the client itself."""
    if not is_cluster(client):
        return [client]
    return [client.get_redis_connection(node) for node in client.get_primaries()]


def describe_client(client: Any) -> str:
    """Where a client points, for messages: ``redis://host:port/db``, the cluster's nodes,
    or the sentinel service."""
    if is_cluster(client):
        nodes = ",".join(f"{n.host}:{n.port}" for n in client.get_primaries())
        return f"{CLUSTER_SCHEME}://{nodes}"
    pool: Any = getattr(client, "connection_pool", None)
    service = getattr(pool, "service_name", None)
    if service is not None:
        sentinels = getattr(getattr(pool, "sentinel_manager", None), "sentinels", [])
        hosts = []
        for s in sentinels:
            kwargs = s.connection_pool.connection_kwargs
            hosts.append(f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}")
        db = pool.connection_kwargs.get("db", 0)
        return f"{SENTINEL_SCHEME}://{','.join(hosts)}/{service}/{db}"
    try:
        kwargs = client.connection_pool.connection_kwargs
        return f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"
    except AttributeError:
        return repr(client)
