"""Loading configuration: a dict, a TOML file, ``FREIGHT_*`` environment overrides, defaults.

Sources, lowest precedence first:

1. the embedded defaults (:data:`DEFAULTS`: a file cache in ``./storage/cache`` and a
   SQLite database queue in ``./storage/``);
2. the given dict or TOML file — or, when nothing is given, the file named by
   ``FREIGHT_CONFIG``, else the first ``freight.toml`` or ``pyproject.toml`` with a
   ``[tool.freight]`` table found in the current directory or one of its parents (the
   way git and ruff find theirs). Relative paths in a file's configuration (SQLite
   URLs, the file store's ``path``) — the embedded defaults' included — are relative to
   that file's directory, so an application started elsewhere uses the same files as
   its worker. Tables are merged
   key by key into the defaults, so a config naming only a redis store keeps ``file``;
   a table that names another ``driver`` than the table it overrides replaces it whole;
3. environment variables: ``FREIGHT_CACHE_DEFAULT``, ``FREIGHT_CACHE_PREFIX``,
   ``FREIGHT_QUEUE_DEFAULT``, and any key path spelled with double underscores, such as
   ``FREIGHT__queue__connections__redis__retry_after=120`` (values parsed as TOML
   scalars when they can be, else kept as strings). ``FREIGHT_REDIS_URL`` is the
   fallback URL of every redis store or connection that names none.
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freight.config_keys import SECTIONS, check_keys, check_table
from freight.errors import ConfigurationError
from freight.serialization import signing_key

__all__ = ["DEFAULTS", "Source", "discover", "load_config", "locate", "validate"]

DEFAULTS: dict[str, Any] = {
    "cache": {
        "default": "file",
        "prefix": "",
        "stores": {
            "array": {"driver": "array"},
            "file": {"driver": "file", "path": "storage/cache"},
            "null": {"driver": "null"},
        },
    },
    "queue": {
        "default": "database",
        "connections": {
            "sync": {"driver": "sync"},
            "database": {
                "driver": "database",
                "url": "sqlite:///storage/queue.sqlite3",
                "table": "jobs",
                "queue": "default",
                "retry_after": 90,
            },
        },
        "failed": {"driver": "database", "url": "sqlite:///storage/queue.sqlite3", "table": "failed_jobs"},
    },
}

_SHORT_ENV = {
    "FREIGHT_CACHE_DEFAULT": ("cache", "default"),
    "FREIGHT_CACHE_PREFIX": ("cache", "prefix"),
    "FREIGHT_QUEUE_DEFAULT": ("queue", "default"),
}


@dataclass(frozen=True, slots=True)
class Source:
    """Where a configuration came from, for logs and ``python -m freight about``."""

    path: Path | None
    how: str

    def __str__(self) -> str:
        return f"{self.path} ({self.how})" if self.path else self.how


def discover(directory: str | os.PathLike[str] = ".") -> Path | None:
    """The config file for ``directory``: in it or the nearest parent, ``freight.toml``,
    else a pyproject.toml with a ``[tool.freight]`` table; None when there is none."""
    base = Path(directory).resolve()
    for folder in (base, *base.parents):
        if (folder / "freight.toml").is_file():
            return folder / "freight.toml"
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "freight" in _read_toml(pyproject).get("tool", {}):
            return pyproject
    return None


def locate(
    source: Mapping[str, Any] | str | os.PathLike[str] | None, env: Mapping[str, str] | None = None
) -> Source:
    """Where :func:`load_config` takes ``source`` from: a dict, a given file, ``FREIGHT_CONFIG``,
    a discovered file, or the embedded defaults."""
    if isinstance(source, Mapping):
        return Source(None, "a dict given by the application")
    if source is not None:
        return Source(Path(source), "given")
    named = (os.environ if env is None else env).get("FREIGHT_CONFIG")
    if named:
        return Source(Path(named), "FREIGHT_CONFIG")
    found = discover()
    if found is not None:
        return Source(found, f"found from {os.getcwd()}")
    return Source(
        None, f"embedded defaults: no freight.toml or [tool.freight] in {os.getcwd()} or its parents"
    )


def load_config(
    source: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The full, validated configuration from ``source`` merged over the defaults, with
    environment overrides applied."""
    where = locate(source, env)
    user: Mapping[str, Any] = source if isinstance(source, Mapping) else {}
    if where.path is not None:
        user = _from_file(where.path)
    config = _merge(copy.deepcopy(DEFAULTS), user)
    _apply_env(config, os.environ if env is None else env)
    validate(config)
    if where.path is not None:
        _anchor(config, where.path.resolve().parent)
    return config


def _anchor(config: dict[str, Any], base: Path) -> None:
    """Make relative SQLite URLs and file-store paths relative to ``base`` (the config file's
    directory) instead of the current directory."""
    tables = [*config["cache"]["stores"].values(), *config["queue"]["connections"].values()]
    failed = config["queue"].get("failed")
    for table in [*tables, failed] if isinstance(failed, dict) else tables:
        url = table.get("url")
        if isinstance(url, str) and url.startswith("sqlite") and "///" in url:
            head, path = url.split("///", 1)
            if path and not path.startswith(("/", ":memory:", "file:")):
                table["url"] = f"{head}///{base / path}"
        if table.get("driver") == "file" and isinstance(table.get("path"), str):
            table["path"] = str(base / table["path"])


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigurationError(f"cannot read config file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config file {path} is not valid TOML: {exc}") from exc


def _from_file(path: Path) -> dict[str, Any]:
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        if "freight" not in tool:
            raise ConfigurationError(f"{path} has no [tool.freight] table")
        data = tool["freight"]
    return data


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in override.items():
        current = base.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict) and not _replaces(current, value):
            _merge(current, value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _replaces(current: Mapping[str, Any], value: Mapping[str, Any]) -> bool:
    """A table naming another driver replaces the one it overrides instead of merging into it,
    so ``[queue.failed] driver = "redis"`` does not inherit the default's SQLite ``url``."""
    return "driver" in value and "driver" in current and value["driver"] != current["driver"]


#: keys whose environment values stay strings (a secret of digits is still a string)
_TEXT_KEYS = frozenset({"key", "password", "url", "prefix", "username", "token"})


def _parse_scalar(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _set_path(config: dict[str, Any], path: list[str], value: Any, origin: str) -> None:
    node = config
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigurationError(f"{origin}: {part!r} is not a table, cannot set {'.'.join(path)}")
        node = child
    if path[-1] == "driver" and node.get("driver") not in (None, value):
        node.clear()  # another driver: start from a clean table, as a file would (see _replaces)
    node[path[-1]] = value


def _apply_env(config: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, path in _SHORT_ENV.items():
        if env.get(name):
            _set_path(config, list(path), env[name], name)
    paths = []
    for name, value in env.items():
        if name.startswith("FREIGHT__") and len(name) > len("FREIGHT__"):
            parts = [p.lower() for p in name[len("FREIGHT__") :].split("__") if p]
            if parts:
                paths.append((parts[-1] != "driver", name, parts, value))
    for _, name, parts, value in sorted(paths):  # every "driver" first: it may reset its table
        _set_path(config, parts, value if parts[-1] in _TEXT_KEYS else _parse_scalar(value), name)


def _require(condition: bool, key: str, why: str) -> None:
    if not condition:
        raise ConfigurationError(f"invalid configuration at {key!r}: {why}")


def _validate_section(config: dict[str, Any], section: str, items_key: str, kind: str) -> None:
    data = config.get(section)
    if not isinstance(data, dict):
        raise ConfigurationError(f"invalid configuration at {section!r}: must be a table")
    items = data.get(items_key)
    if not isinstance(items, dict):
        raise ConfigurationError(
            f"invalid configuration at {section + '.' + items_key!r}: must be a table of {kind}s"
        )
    for name, item in items.items():
        where = f"{section}.{items_key}.{name}"
        _require(isinstance(item, dict), where, "must be a table")
        _require(
            isinstance(item.get("driver"), str) and bool(item["driver"]),
            f"{where}.driver",
            "is required and must be a non-empty string",
        )
        for number in ("retry_after", "port", "db", "max_entries"):
            if number in item:
                ok = isinstance(item[number], int | float) and not isinstance(item[number], bool)
                ok = ok and 0 <= item[number] < float("inf")
                _require(ok, f"{where}.{number}", "must be a finite, non-negative number")
        if "key" in item:
            signing_key(item["key"], f"invalid configuration at {where + '.key'!r}:")
        check_table(item, where, kind)
        for text in ("url", "path", "prefix", "table", "queue", "serializer"):
            if text in item:
                _require(isinstance(item[text], str), f"{where}.{text}", "must be a string")
    default = data.get("default")
    _require(isinstance(default, str) and bool(default), f"{section}.default", "must be a non-empty string")
    _require(
        default in items,
        f"{section}.default",
        f"names {kind} {default!r}, which is not configured (configured: {', '.join(sorted(items))})",
    )


def validate(config: Mapping[str, Any]) -> None:
    """Raise one :class:`ConfigurationError` naming the first invalid key and why."""
    _require(isinstance(config, Mapping), "<root>", "configuration must be a table")
    as_dict = dict(config)
    check_keys(as_dict, SECTIONS[""], "", "the configuration")
    for section in ("cache", "queue", "metrics", "schedule", "dashboard"):
        if isinstance(as_dict.get(section), Mapping):
            check_keys(as_dict[section], SECTIONS[section], section, f"the [{section}] section")
    _validate_section(as_dict, "cache", "stores", "store")
    _validate_section(as_dict, "queue", "connections", "connection")
    prefix = as_dict["cache"].get("prefix", "")
    _require(isinstance(prefix, str), "cache.prefix", "must be a string")
    _validate_schedule(as_dict)
    failed = as_dict["queue"].get("failed")
    if failed is not None:
        _require(
            isinstance(failed, dict) and isinstance(failed.get("driver"), str),
            "queue.failed",
            "must be a table with a 'driver' (database, redis or null)",
        )
        if "key" in failed:
            signing_key(failed["key"], "invalid configuration at 'queue.failed.key':")
        check_table(failed, "queue.failed", "failed")


def _validate_schedule(config: dict[str, Any]) -> None:
    """``[schedule]``: ``store`` names a configured cache store, ``timezone`` is a string."""
    schedule = config.get("schedule")
    if schedule is None:
        return
    _require(isinstance(schedule, dict), "schedule", "must be a table (store, timezone)")
    for text in ("store", "timezone"):
        if text in schedule:
            ok = isinstance(schedule[text], str) and bool(schedule[text])
            _require(ok, f"schedule.{text}", "must be a non-empty string")
    if "store" in schedule:
        stores = config["cache"]["stores"]
        _require(
            schedule["store"] in stores,
            "schedule.store",
            f"names cache store {schedule['store']!r}, which is not configured "
            f"(configured: {', '.join(sorted(stores))})",
        )
