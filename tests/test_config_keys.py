"""Unknown configuration keys (issue 12, item 10) and booleans (item 8).

A key no driver or section declares is refused, naming the closest valid key and where
keys are declared; keys that take true/false refuse anything else; a driver added with
``extend(..., keys=...)`` declares its own. A source scan keeps the declarations honest:
every key a builtin driver reads from its configuration must be declared.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

from freight import config_keys
from freight.cache.manager import BUILTIN_DRIVERS, CacheManager
from freight.cache.stores.array import create as array_store
from freight.config import load_config
from freight.errors import ConfigurationError

NO_ENV: dict[str, str] = {}

TYPOS: list[tuple[dict[str, Any], str, str]] = [
    (
        {"queue": {"connections": {"database": {"retry_afer": 90}}}},
        "queue.connections.database.retry_afer",
        "retry_after",
    ),
    ({"cache": {"stores": {"file": {"paht": "x"}}}}, "cache.stores.file.paht", "path"),
    (
        {"cache": {"stores": {"r": {"driver": "redis", "sentinel": ["a:1"]}}}},
        "cache.stores.r.sentinel",
        "sentinels",
    ),
    (
        {"cache": {"stores": {"m": {"driver": "memcached", "server": ["a:1"]}}}},
        "cache.stores.m.server",
        "servers",
    ),
    (
        {"cache": {"stores": {"a": {"driver": "array", "max_entry": 3}}}},
        "cache.stores.a.max_entry",
        "max_entries",
    ),
    (
        {"queue": {"connections": {"r": {"driver": "redis", "prefx": "p"}}}},
        "queue.connections.r.prefx",
        "prefix",
    ),
    ({"queue": {"failed": {"driver": "database", "tabel": "f"}}}, "queue.failed.tabel", "table"),
    ({"cahce": {}}, "cahce", "cache"),
    ({"cache": {"prefx": "p"}}, "cache.prefx", "prefix"),
    ({"queue": {"conections": {}}}, "queue.conections", "connections"),
    ({"schedule": {"timezon": "UTC"}}, "schedule.timezon", "timezone"),
    ({"metrics": {"intervall": 2}}, "metrics.intervall", "interval"),
]


@pytest.mark.parametrize(("config", "where", "closest"), TYPOS, ids=[t[1] for t in TYPOS])
def test_unknown_keys_are_refused_naming_the_closest_valid_key(
    config: dict[str, Any], where: str, closest: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_config(config, env=NO_ENV)
    message = str(info.value)
    assert repr(where) in message and f"did you mean {closest!r}" in message
    assert "freight/config_keys.py" in message


def test_an_unknown_key_from_the_environment_is_refused_too() -> None:
    with pytest.raises(ConfigurationError, match="retry_after"):
        load_config(None, env={"FREIGHT__queue__connections__database__retry_afer": "90"})


BOOLS = [
    ("queue", "database", "durable_acks"),
    ("queue", "database", "sqlite_wal"),
    ("cache", "r", "cluster"),
    ("queue", "sync", "raise_exceptions"),
    ("cache", "r", "ssl"),
    ("cache", "d", "durable_writes"),
]


@pytest.mark.parametrize("value", ["maybe", "false", 1, 0, None, [True]], ids=repr)
@pytest.mark.parametrize(("section", "name", "key"), BOOLS)
def test_booleans_must_be_true_or_false(section: str, name: str, key: str, value: Any) -> None:
    driver = {"database": "database", "sync": "sync", "r": "redis", "d": "database"}[name]
    items = "stores" if section == "cache" else "connections"
    config = {section: {items: {name: {"driver": driver, key: value}}}}
    with pytest.raises(ConfigurationError, match=f"{key}.*true or false"):
        load_config(config, env=NO_ENV)
    config[section][items][name][key] = True
    load_config(config, env=NO_ENV)


def test_every_key_named_in_the_design_is_accepted() -> None:
    load_config(
        {
            "cache": {
                "default": "file",
                "prefix": "myapp",
                "version": 2,
                "stores": {
                    "array": {"driver": "array", "max_entries": 10},
                    "file": {"driver": "file", "path": "storage/cache", "version": 3},
                    "redis": {"driver": "redis", "url": "redis://127.0.0.1:6379/0", "serializer": "pickle",
                              "key": "k" * 32, "socket_timeout": 1, "socket_connect_timeout": 1},
                    "cluster": {"driver": "redis", "cluster": True, "startup_nodes": ["127.0.0.1:7000"]},
                    "sentinel": {"driver": "redis", "sentinels": ["127.0.0.1:26379"], "service_name": "m"},
                    "memcached": {"driver": "memcached", "servers": ["127.0.0.1:11211"], "timeout": 1},
                    "database": {"driver": "database", "url": "sqlite:///c.db", "table": "cache"},
                    "failover": {"driver": "failover", "stores": ["redis", "file"]},
                },
            },
            "queue": {
                "default": "database",
                "connections": {
                    "sync": {"driver": "sync"},
                    "database": {"driver": "database", "url": "sqlite:///q.db", "table": "jobs",
                                 "queue": "default", "retry_after": 90, "durable_acks": True},
                    "redis": {"driver": "redis", "url": "redis://127.0.0.1:6379/0", "queue": "default",
                              "retry_after": 90, "key": "k" * 32},
                },
                "failed": {"driver": "database", "url": "sqlite:///q.db", "table": "failed_jobs"},
            },
            "schedule": {"store": "redis", "timezone": "Europe/Berlin"},
            "metrics": {"enabled": True, "interval": 1.0, "retention": 1440, "key_groups": {"u": "user:*"}},
            "dashboard": {"token": "t", "password": "p", "refresh": 5},
        },
        env=NO_ENV,
    )  # fmt: skip


def test_a_driver_added_with_extend_declares_its_keys() -> None:
    config = {"default": "s", "stores": {"s": {"driver": "mine", "region": "eu", "regoin": "us"}}}
    checked = CacheManager(config)
    checked.extend("mine", array_store, keys={"region"})
    with pytest.raises(ConfigurationError, match=r"stores\.s\.regoin.*did you mean 'region'"):
        checked.store()
    unchecked = CacheManager(config)
    unchecked.extend("mine", array_store)  # declares nothing: not checked
    unchecked.store().put("k", 1)


def _keys_read(module: str) -> set[str]:
    """Keys a module reads from a configuration mapping (``config.get("x")``, ``config["x"]``)."""
    source = Path(importlib.import_module(module).__file__ or "").read_text()
    return set(re.findall(r"""config(?:\.get\(|\[)["']([a-z_]+)["']""", source))


@pytest.mark.parametrize("driver", sorted(BUILTIN_DRIVERS))
def test_every_key_a_cache_driver_reads_is_declared(driver: str) -> None:
    module = BUILTIN_DRIVERS[driver].partition(":")[0]
    declared = config_keys.STORE_COMMON | config_keys.CACHE_STORES[driver]
    missing = _keys_read(module) - declared - {"engine", "client", "async_client"}
    assert not missing, f"declare {sorted(missing)} in CACHE_STORES[{driver!r}] of src/freight/config_keys.py"


@pytest.mark.parametrize("driver", sorted(config_keys.QUEUE_CONNECTIONS))
def test_every_key_a_queue_driver_reads_is_declared(driver: str) -> None:
    declared = config_keys.CONNECTION_COMMON | config_keys.QUEUE_CONNECTIONS[driver]
    missing = _keys_read(f"freight.queue.drivers.{driver}") - declared - {"engine", "client"}
    assert not missing, (
        f"declare {sorted(missing)} in QUEUE_CONNECTIONS[{driver!r}] of src/freight/config_keys.py"
    )


def test_every_client_key_is_declared() -> None:
    assert _keys_read("freight.redis_topology") - config_keys.REDIS == set()
    connections = _keys_read("freight.connections")
    assert connections - config_keys.REDIS - config_keys.SQL == set()
