"""The configuration keys freight knows, declared per section and per driver.

An unknown key (``retry_afer = 90``) is refused when the configuration loads, naming the
closest valid key. **To add a key, add one line to the set of its driver below.** A
driver added with ``extend(name, factory, keys={...})`` (or whose factory has a
``config_keys`` attribute) declares its own keys, checked when its store or connection
is built; one that declares none is not checked. Keys in :data:`BOOLEANS` must be
``true`` or ``false`` wherever they appear (``durable_acks = "maybe"`` is refused).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from freight.errors import ConfigurationError

__all__ = [
    "BOOLEANS",
    "CACHE_STORES",
    "FAILED_STORES",
    "QUEUE_CONNECTIONS",
    "SECTIONS",
    "check_keys",
    "check_table",
]

#: where these declarations live, named in every error message
WHERE = "freight/config_keys.py"

#: every redis client: a URL or host/port, pool and socket options, Cluster and Sentinel
REDIS = {
    "url", "host", "port", "db", "password", "username", "client", "async_client",
    "max_connections", "socket_timeout", "socket_connect_timeout", "socket_keepalive",
    "health_check_interval", "retry_on_timeout", "ssl",
    "cluster", "startup_nodes", "sentinels", "service_name", "sentinel_password",
}  # fmt: skip
#: every SQL client (SQLAlchemy)
SQL = {"url", "engine", "engine_options", "connect_timeout", "read_timeout"}

#: keys of every cache store ("name" is filled in by the manager)
STORE_COMMON = {"driver", "name", "prefix", "version", "serializer", "key", "clock"}
CACHE_STORES: dict[str, set[str]] = {
    "array": {"max_entries"},
    "file": {"path"},
    "null": set(),
    "redis": REDIS | {"retries"},
    "memcached": {"servers", "connect_timeout", "timeout", "dead_timeout", "max_pool_size"},
    "database": SQL | {"table", "lock_table", "sqlite_wal", "durable_writes"},
    "failover": {"stores", "cooldown"},
}

#: keys of every queue connection
CONNECTION_COMMON = {"driver", "name", "queue", "retry_after", "key", "clock"}
QUEUE_CONNECTIONS: dict[str, set[str]] = {
    "sync": {"raise_exceptions"},
    "memory": set(),
    "redis": REDIS | {"prefix"},
    "database": SQL | {"table", "batch_table", "sqlite_wal", "durable_acks"},
}

FAILED_STORES: dict[str, set[str]] = {
    "database": SQL | {"table"},
    "redis": REDIS | {"prefix"},
    "null": set(),
}

#: the keys of each section (``stores`` and ``connections`` hold named tables, checked above)
SECTIONS: dict[str, set[str]] = {
    "": {"cache", "queue", "metrics", "schedule", "dashboard"},
    "cache": {"default", "prefix", "version", "stores"},
    "queue": {"default", "connections", "failed"},
    "metrics": {
        "enabled",
        "interval",
        "flush_every",
        "retention",
        "sample_every",
        "connection",
        "key_groups",
        "table",
        "prefix",
    },  # fmt: skip
    "schedule": {"store", "timezone"},
    "dashboard": {"token", "password", "refresh"},
}

#: keys that must be true or false wherever they appear
BOOLEANS = {
    "sqlite_wal", "durable_acks", "durable_writes", "raise_exceptions", "cluster",
    "socket_keepalive", "retry_on_timeout", "ssl", "enabled",
}  # fmt: skip


def check_keys(table: Mapping[str, Any], valid: Iterable[str], where: str, what: str) -> None:
    """:class:`ConfigurationError` for the first key of ``table`` not in ``valid`` (naming the
    closest valid one), or the first boolean key that is not a bool."""
    known = set(valid)
    for key, value in table.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigurationError(
                f"invalid configuration at {path!r}: unknown key for {what}; {hint}"
                f"valid keys: {', '.join(sorted(known))} (declared in {WHERE}; a driver added with "
                "extend() declares its own with keys=...)"
            )
        if key in BOOLEANS and not isinstance(value, bool):
            raise ConfigurationError(
                f"invalid configuration at {path!r}: must be true or false, got {value!r}"
            )


def check_table(table: Mapping[str, Any], where: str, kind: str) -> None:
    """Check one named store (``kind="store"``), connection or failed-job store against the
    keys of its driver; a driver freight does not know is left to :meth:`Manager.extend`."""
    driver = table.get("driver")
    declared, common = {
        "store": (CACHE_STORES, STORE_COMMON),
        "connection": (QUEUE_CONNECTIONS, CONNECTION_COMMON),
        "failed": (FAILED_STORES, {"driver"}),
    }[kind]
    keys = declared.get(driver) if isinstance(driver, str) else None
    if keys is not None:
        check_keys(table, common | keys, where, f"the {driver!r} {kind} driver")
