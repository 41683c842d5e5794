"""Configuration loading: every source, their precedence, the embedded defaults and validation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from freight.config import DEFAULTS, discover, load_config, validate
from freight.errors import ConfigurationError

NO_ENV: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _clean_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in an empty directory with no FREIGHT_* variables set."""
    monkeypatch.chdir(tmp_path)
    import os

    for name in list(os.environ):
        if name.startswith("FREIGHT_"):
            monkeypatch.delenv(name)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- the embedded defaults ------------------------------------------------------------------
def test_nothing_configured_gives_the_embedded_defaults() -> None:
    config = load_config(env=NO_ENV)
    assert config == DEFAULTS
    assert config["cache"]["default"] == "file"
    assert config["cache"]["stores"]["file"] == {"driver": "file", "path": "storage/cache"}
    assert config["queue"]["default"] == "database"
    database = config["queue"]["connections"]["database"]
    assert database["url"] == "sqlite:///storage/queue.sqlite3"
    assert database["retry_after"] == 90
    assert config["queue"]["failed"]["table"] == "failed_jobs"


def test_loading_never_mutates_the_defaults_or_the_given_dict() -> None:
    before = copy.deepcopy(DEFAULTS)
    given = {"cache": {"prefix": "app", "stores": {"file": {"path": "/tmp/x"}}}}
    given_copy = copy.deepcopy(given)
    config = load_config(given, env={"FREIGHT_CACHE_PREFIX": "env"})
    config["cache"]["stores"]["file"]["path"] = "mutated"
    assert DEFAULTS == before
    assert given == given_copy


# -- a dict ---------------------------------------------------------------------------------
def test_a_dict_is_merged_key_by_key_into_the_defaults() -> None:
    config = load_config(
        {
            "cache": {"default": "redis", "stores": {"redis": {"driver": "redis", "url": "redis://h/1"}}},
            "queue": {"connections": {"database": {"retry_after": 300}}},
        },
        env=NO_ENV,
    )
    stores = config["cache"]["stores"]
    assert set(stores) == {"array", "file", "null", "redis"}  # the defaults stay
    assert config["cache"]["default"] == "redis"
    database = config["queue"]["connections"]["database"]
    assert database["retry_after"] == 300
    assert database["url"] == "sqlite:///storage/queue.sqlite3"  # untouched sibling keys stay


def test_a_non_table_value_replaces_rather_than_merges() -> None:
    config = load_config(
        {"cache": {"stores": {"memcached": {"driver": "memcached", "servers": ["a:1", "b:2"]}}}}, env=NO_ENV
    )
    config2 = load_config(
        {"cache": {"stores": {"memcached": {"driver": "memcached", "servers": ["c:3"]}}}}, env=NO_ENV
    )
    assert config["cache"]["stores"]["memcached"]["servers"] == ["a:1", "b:2"]
    assert config2["cache"]["stores"]["memcached"]["servers"] == ["c:3"]


# -- TOML files ------------------------------------------------------------------------------
FREIGHT_TOML = """
[cache]
default = "array"
prefix = "from-file"

[queue.connections.database]
retry_after = 120
"""


def test_an_explicit_toml_path(tmp_path: Path) -> None:
    path = write(tmp_path / "custom.toml", FREIGHT_TOML)
    for source in (path, str(path)):
        config = load_config(source, env=NO_ENV)
        assert config["cache"]["default"] == "array"
        assert config["cache"]["prefix"] == "from-file"
        assert config["queue"]["connections"]["database"]["retry_after"] == 120


def test_freight_toml_is_discovered_in_the_current_directory(tmp_path: Path) -> None:
    write(tmp_path / "freight.toml", FREIGHT_TOML)
    found = discover()
    assert found is not None and found.resolve() == tmp_path / "freight.toml"
    assert load_config(env=NO_ENV)["cache"]["prefix"] == "from-file"


def test_tool_freight_in_pyproject_is_discovered(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "x"\n\n[tool.freight.cache]\nprefix = "from-pyproject"\n',
    )
    found = discover()
    assert found is not None and found.resolve() == tmp_path / "pyproject.toml"
    assert load_config(env=NO_ENV)["cache"]["prefix"] == "from-pyproject"
    # an explicit path to the pyproject reads the same table
    assert load_config(tmp_path / "pyproject.toml", env=NO_ENV)["cache"]["prefix"] == "from-pyproject"


def test_freight_toml_wins_over_pyproject(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.freight.cache]\nprefix = "from-pyproject"\n')
    write(tmp_path / "freight.toml", FREIGHT_TOML)
    assert load_config(env=NO_ENV)["cache"]["prefix"] == "from-file"


def test_a_pyproject_without_tool_freight_is_ignored_by_discovery(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n[tool.ruff]\nline-length = 90\n')
    assert discover() is None
    assert load_config(env=NO_ENV) == DEFAULTS
    with pytest.raises(ConfigurationError, match=r"no \[tool.freight\] table"):
        load_config(tmp_path / "pyproject.toml", env=NO_ENV)


def test_discovery_looks_in_the_given_directory(tmp_path: Path) -> None:
    sub = tmp_path / "project"
    sub.mkdir()
    write(sub / "freight.toml", FREIGHT_TOML)
    assert discover() is None
    assert discover(sub) == sub / "freight.toml"


def test_a_dict_source_skips_discovery(tmp_path: Path) -> None:
    write(tmp_path / "freight.toml", FREIGHT_TOML)
    assert load_config({}, env=NO_ENV)["cache"]["prefix"] == ""


def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read config file .*nope.toml"):
        load_config(tmp_path / "nope.toml", env=NO_ENV)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "freight.toml", "[cache\nprefix = 1\n")
    with pytest.raises(ConfigurationError, match="freight.toml is not valid TOML"):
        load_config(path, env=NO_ENV)


# -- environment overrides -----------------------------------------------------------------
def test_short_environment_variables() -> None:
    config = load_config(
        {"queue": {"connections": {"redis": {"driver": "redis"}}}},
        env={
            "FREIGHT_CACHE_DEFAULT": "array",
            "FREIGHT_CACHE_PREFIX": "envapp",
            "FREIGHT_QUEUE_DEFAULT": "redis",
        },
    )
    assert config["cache"]["default"] == "array"
    assert config["cache"]["prefix"] == "envapp"
    assert config["queue"]["default"] == "redis"


def test_an_empty_short_variable_is_ignored() -> None:
    assert load_config(env={"FREIGHT_CACHE_DEFAULT": ""})["cache"]["default"] == "file"


def test_double_underscore_paths_set_any_key_with_toml_scalars() -> None:
    config = load_config(
        env={
            "FREIGHT__queue__connections__database__retry_after": "120",
            "FREIGHT__CACHE__STORES__FILE__PATH": "/var/cache/app",  # names are lower-cased
            "FREIGHT__cache__stores__redis__driver": "redis",  # a new store, created on the fly
            "FREIGHT__cache__stores__redis__url": "redis://127.0.0.1:6379/3",
            "FREIGHT__cache__stores__array__max_entries": "1_000",
            "FREIGHT__queue__connections__database__durable_acks": "true",
        }
    )
    assert config["queue"]["connections"]["database"]["retry_after"] == 120
    assert config["cache"]["stores"]["file"]["path"] == "/var/cache/app"
    assert config["cache"]["stores"]["redis"] == {"driver": "redis", "url": "redis://127.0.0.1:6379/3"}
    assert config["cache"]["stores"]["array"]["max_entries"] == 1000
    assert config["queue"]["connections"]["database"]["durable_acks"] is True


def test_environment_is_read_from_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREIGHT_CACHE_PREFIX", "from-os")
    assert load_config()["cache"]["prefix"] == "from-os"


def test_precedence_defaults_then_file_then_environment(tmp_path: Path) -> None:
    write(tmp_path / "freight.toml", FREIGHT_TOML)
    from_file = load_config(env=NO_ENV)
    assert from_file["cache"]["prefix"] == "from-file"  # file beats defaults
    # defaults fill the rest, their relative paths anchored at the config file's directory
    assert from_file["cache"]["stores"]["file"]["path"] == str(tmp_path.resolve() / "storage/cache")
    from_env = load_config(
        env={"FREIGHT_CACHE_PREFIX": "from-env", "FREIGHT__queue__connections__database__retry_after": "30"}
    )
    assert from_env["cache"]["prefix"] == "from-env"  # environment beats the file
    assert from_env["queue"]["connections"]["database"]["retry_after"] == 30
    assert from_env["cache"]["default"] == "array"  # the file still applies elsewhere


def test_environment_beats_a_dict_too() -> None:
    config = load_config({"cache": {"prefix": "dict"}}, env={"FREIGHT_CACHE_PREFIX": "env"})
    assert config["cache"]["prefix"] == "env"


def test_an_env_path_through_a_scalar_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match=r"FREIGHT__cache__prefix__x: 'prefix' is not a table"):
        load_config(env={"FREIGHT__cache__prefix__x": "1"})


def test_environment_overrides_are_validated_too() -> None:
    with pytest.raises(ConfigurationError, match=r"'queue.default'.*'redis'"):
        load_config(env={"FREIGHT_QUEUE_DEFAULT": "redis"})


def test_freight_redis_url_is_the_fallback_url_of_redis_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("redis")
    from freight.connections import redis_client

    monkeypatch.setenv("FREIGHT_REDIS_URL", "redis://127.0.0.1:6390/7")
    fallback = redis_client({"driver": "redis"}).connection_pool.connection_kwargs
    assert (fallback["port"], fallback["db"]) == (6390, 7)
    explicit = redis_client({"driver": "redis", "url": "redis://127.0.0.1:6391/2"})
    assert explicit.connection_pool.connection_kwargs["port"] == 6391  # an explicit url wins
    by_host = redis_client({"driver": "redis", "host": "127.0.0.1", "port": 6392})
    assert by_host.connection_pool.connection_kwargs["port"] == 6392  # so does host/port


# -- validation ------------------------------------------------------------------------------
def invalid(config: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        load_config(config, env=NO_ENV)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"cache": {"default": "redis"}}, r"'cache.default'.*store 'redis'.*configured: array, file, null"),
        ({"queue": {"default": "sqs"}}, r"'queue.default'.*connection 'sqs'.*configured: database, sync"),
        ({"cache": {"default": ""}}, r"'cache.default': must be a non-empty string"),
        ({"cache": {"stores": {"x": {"path": "p"}}}}, r"'cache.stores.x.driver': is required"),
        ({"cache": {"stores": {"x": {"driver": ""}}}}, r"'cache.stores.x.driver'"),
        ({"cache": {"stores": {"x": "file"}}}, r"'cache.stores.x': must be a table"),
        ({"cache": {"stores": ["file"]}}, r"'cache.stores': must be a table of stores"),
        ({"cache": "file"}, r"'cache': must be a table"),
        ({"cache": {"prefix": 3}}, r"'cache.prefix': must be a string"),
        (
            {"queue": {"connections": {"database": {"retry_after": -1}}}},
            r"'queue.connections.database.retry_after': must be a finite, non-negative number",
        ),
        (
            {"queue": {"connections": {"database": {"retry_after": True}}}},
            r"'queue.connections.database.retry_after'",
        ),
        (
            {"queue": {"connections": {"database": {"retry_after": "90"}}}},
            r"'queue.connections.database.retry_after'",
        ),
        (
            {"queue": {"connections": {"database": {"url": 5}}}},
            r"'queue.connections.database.url': must be a string",
        ),
        (
            {"queue": {"connections": {"database": {"table": ["jobs"]}}}},
            r"'queue.connections.database.table': must be a string",
        ),
        ({"cache": {"stores": {"file": {"path": None}}}}, r"'cache.stores.file.path': must be a string"),
        ({"cache": {"stores": {"array": {"max_entries": -5}}}}, r"'cache.stores.array.max_entries'"),
        ({"cache": {"stores": {"redis": {"driver": "redis", "port": "6379"}}}}, r"'cache.stores.redis.port'"),
        ({"queue": {"failed": {"driver": 5}}}, r"'queue.failed'.*'driver'"),
        ({"queue": {"failed": "database"}}, r"'queue.failed'"),
    ],
)
def test_invalid_configuration_names_the_key_and_why(config: dict[str, Any], match: str) -> None:
    invalid(config, match)


def test_the_failed_store_may_be_omitted() -> None:
    config = copy.deepcopy(DEFAULTS)
    del config["queue"]["failed"]
    validate(config)


def test_validate_rejects_a_non_table_root() -> None:
    with pytest.raises(ConfigurationError, match="'<root>'"):
        validate(["cache"])  # type: ignore[arg-type]


def test_an_invalid_file_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path / "freight.toml", '[queue.connections.database]\nretry_after = "soon"\n')
    with pytest.raises(ConfigurationError, match=r"'queue.connections.database.retry_after'"):
        load_config(path, env=NO_ENV)


# -- changing a driver --------------------------------------------------------------------------
def test_a_table_naming_another_driver_replaces_the_default_table() -> None:
    config = load_config(
        {
            "queue": {"failed": {"driver": "redis", "prefix": "app:failed"}},
            "cache": {"stores": {"file": {"driver": "array"}}},
        },
        env=NO_ENV,
    )
    assert config["queue"]["failed"] == {"driver": "redis", "prefix": "app:failed"}  # no SQLite url
    assert config["cache"]["stores"]["file"] == {"driver": "array"}


def test_a_table_naming_the_same_driver_still_merges() -> None:
    config = load_config({"queue": {"failed": {"driver": "database", "table": "dead"}}}, env=NO_ENV)
    assert config["queue"]["failed"] == {
        "driver": "database",
        "url": "sqlite:///storage/queue.sqlite3",
        "table": "dead",
    }


def test_an_env_driver_change_resets_the_table_whatever_the_variable_order() -> None:
    for env in (
        {"FREIGHT__queue__failed__prefix": "x", "FREIGHT__queue__failed__driver": "redis"},
        {"FREIGHT__queue__failed__driver": "redis", "FREIGHT__queue__failed__prefix": "x"},
    ):
        assert load_config(env=env)["queue"]["failed"] == {"driver": "redis", "prefix": "x"}
    same = load_config(env={"FREIGHT__queue__failed__driver": "database"})["queue"]["failed"]
    assert same["url"] == "sqlite:///storage/queue.sqlite3"


def test_a_file_and_env_together_change_a_driver(tmp_path: Path) -> None:
    write(tmp_path / "freight.toml", '[queue.failed]\ndriver = "redis"\nurl = "redis://127.0.0.1:6379/2"\n')
    config = load_config(env={"FREIGHT__queue__failed__prefix": "p"})
    assert config["queue"]["failed"] == {"driver": "redis", "url": "redis://127.0.0.1:6379/2", "prefix": "p"}
