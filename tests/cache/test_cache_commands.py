"""cache:clear, cache:forget, cache:prune and cache:table, through the handlers and ``main()``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
from cachekit import FakeClock

from freight.cache import commands
from freight.cache.manager import CacheManager
from freight.cache.stores.array import ArrayStore
from freight.errors import ConfigurationError


class App:
    """A stand-in Application: ``cache()`` returns the manager."""

    def __init__(self, manager: CacheManager) -> None:
        self._cache = manager

    def cache(self) -> CacheManager:
        return self._cache


class TableStore(ArrayStore):
    """An array store that pretends to own database tables."""

    driver = "database"
    has_tables = True
    created = 0

    def create_tables(self) -> None:
        TableStore.created += 1


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def run(app: App, *argv: str) -> int:
    args = parse(*argv)
    return int(args.handler(args, app))


@pytest.fixture
def app(tmp_path: Path) -> App:
    clock = FakeClock()
    stores: dict[str, Any] = {
        "file": {"driver": "file", "path": str(tmp_path / "cache")},
        "array": {"driver": "array"},
    }
    return App(CacheManager({"default": "file", "prefix": "cli", "stores": stores}, clock=clock))


def test_clear_flushes_the_named_or_default_store(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    cache = app.cache()
    cache.put("k", 1)
    cache.store("array").put("k", 2)
    assert run(app, "cache:clear") == 0
    assert cache.missing("k") and cache.store("array").has("k")
    assert "'file' cleared" in capsys.readouterr().out
    assert run(app, "cache:clear", "array") == 0
    assert cache.store("array").missing("k")


def test_forget_one_key(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    cache = app.cache()
    cache.store("array").put("k", 1)
    assert run(app, "cache:forget", "k", "--store", "array") == 0
    assert cache.store("array").missing("k")
    assert "removed" in capsys.readouterr().out
    assert run(app, "cache:forget", "k") == 0
    assert "was not in cache store 'file'" in capsys.readouterr().out


def test_prune_reports_how_many(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    cache = app.cache()
    cache.put_many({"a": 1, "b": 2}, 5)
    cache.put("c", 3, 50)
    assert isinstance(cache.clock, FakeClock)
    cache.clock.advance(10)
    assert run(app, "cache:prune") == 0
    assert "Pruned 2 expired entries from cache store 'file'" in capsys.readouterr().out
    assert cache.get("c") == 3


def test_table_calls_create_tables_on_a_database_store(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    manager = CacheManager(
        {"default": "array", "stores": {"array": {"driver": "array"}, "db": {"driver": "tdb"}}}
    )
    manager.extend("tdb", lambda config, m: TableStore(name=config["name"]))
    with pytest.raises(ConfigurationError, match="no cache store uses the 'database' driver"):
        run(App(manager), "cache:table")
    with pytest.raises(ConfigurationError, match="'array' driver, which has no tables"):
        run(App(manager), "cache:table", "array")
    before = TableStore.created
    assert run(App(manager), "cache:table", "db") == 0
    assert TableStore.created == before + 1
    assert "Created the tables of cache store 'db'" in capsys.readouterr().out


def test_table_picks_the_only_database_store(tmp_path: Path) -> None:
    stores = {"array": {"driver": "array"}, "db": {"driver": "database", "url": f"sqlite:///{tmp_path}/c.db"}}
    manager = CacheManager({"default": "array", "stores": stores})
    manager.extend("database", lambda config, m: TableStore(name=config["name"]))
    before = TableStore.created
    assert run(App(manager), "cache:table") == 0
    assert TableStore.created == before + 1
    stores["db2"] = dict(stores["db"])
    with pytest.raises(ConfigurationError, match="several database cache stores.*db, db2"):
        run(App(CacheManager({"default": "array", "stores": stores})), "cache:table")


def test_through_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from freight.cli import main

    cache_dir = tmp_path / "cache"
    config = tmp_path / "freight.toml"
    config.write_text(
        '[cache]\ndefault = "file"\nprefix = "cli"\n'
        f'[cache.stores.file]\ndriver = "file"\npath = "{cache_dir}"\n'
    )
    manager = CacheManager(
        {"default": "f", "prefix": "cli", "stores": {"f": {"driver": "file", "path": str(cache_dir)}}}
    )
    manager.put("k", "v")
    manager.put("x", "y")
    assert main(["cache:forget", "k", "--config", str(config)]) == 0
    assert manager.missing("k") and manager.has("x")
    assert main(["cache:clear", "--config", str(config)]) == 0
    assert manager.missing("x")
    assert main(["cache:prune", "file", "--config", str(config)]) == 0
    assert main(["cache:clear", "nope", "--config", str(config)]) == 1
    assert "'nope' is not configured" in capsys.readouterr().err
    assert main(["cache:table", "--config", str(config)]) == 1
