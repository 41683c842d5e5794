"""CacheManager: resolution, extend, prefixes, codecs, forwarding, lazy imports."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cachekit import FakeClock

from freight.cache.manager import BUILTIN_DRIVERS, CacheManager
from freight.cache.repository import Repository
from freight.cache.stores.array import ArrayStore
from freight.cache.stores.file import FileStore
from freight.errors import ConfigurationError

CONFIG: dict[str, Any] = {
    "default": "array",
    "prefix": "global",
    "stores": {
        "array": {"driver": "array"},
        "own": {"driver": "array", "prefix": "own"},
        "signed": {"driver": "array", "serializer": "pickle", "key": "k" * 16},
    },
}


def test_store_resolves_once_per_name() -> None:
    m = CacheManager(CONFIG)
    assert m.store() is m.store("array") is m.store(None)
    assert m.store("own") is not m.store()
    assert isinstance(m.store().store, ArrayStore)
    assert m.store().name == "array"


def test_unknown_store_lists_the_configured_ones() -> None:
    with pytest.raises(ConfigurationError, match="'nope' is not configured.*array, own, signed"):
        CacheManager(CONFIG).store("nope")


def test_unknown_driver_lists_the_known_ones() -> None:
    m = CacheManager({"default": "x", "stores": {"x": {"driver": "mongo"}}})
    with pytest.raises(ConfigurationError, match="unknown driver 'mongo'.*array, database, failover, file"):
        m.store()


def test_the_global_prefix_applies_unless_a_store_sets_its_own() -> None:
    m = CacheManager(CONFIG)
    assert m.store().store.prefix == "global"
    assert m.store("own").store.prefix == "own"
    assert CacheManager({"default": "a", "stores": {"a": {"driver": "array"}}}).store().store.prefix == ""


def test_each_store_has_its_own_codec() -> None:
    m = CacheManager(CONFIG)
    assert m.store().codec.name == "json"
    assert m.store("signed").codec.name == "signed-pickle"
    m.store("signed").put("obj", Path("/tmp"))
    assert m.store("signed").get("obj") == Path("/tmp")
    bad = CacheManager({"default": "a", "stores": {"a": {"driver": "array", "serializer": "yaml"}}})
    with pytest.raises(ConfigurationError, match="unknown serializer 'yaml'"):
        bad.store()
    unkeyed = CacheManager({"default": "a", "stores": {"a": {"driver": "array", "serializer": "pickle"}}})
    with pytest.raises(ConfigurationError, match="requires a 'key'"):
        unkeyed.store()


def test_the_manager_clock_reaches_stores_and_repositories() -> None:
    clock = FakeClock(1000.0)
    m = CacheManager(CONFIG, clock=clock)
    assert m.clock is clock and m.store().store.clock is clock
    m.put("k", "v", 10)
    clock.advance(11)
    assert m.missing("k")


def test_extend_with_a_store_factory_a_repository_factory_or_an_import_path() -> None:
    m = CacheManager({"default": "c", "stores": {"c": {"driver": "custom", "size": 2}}})
    seen: list[dict[str, Any]] = []

    def factory(config: dict[str, Any], manager: CacheManager) -> ArrayStore:
        seen.append(config)
        return ArrayStore(name=config["name"], max_entries=config["size"], clock=manager.clock)

    m.extend("custom", factory)
    assert isinstance(m.store().store, ArrayStore) and m.store().store.max_entries == 2  # type: ignore[attr-defined]
    assert seen == [{"driver": "custom", "size": 2, "name": "c", "prefix": "", "version": 1}]
    first = m.store()
    m.extend("custom", lambda config, manager: Repository(ArrayStore(name="made")))
    assert m.store() is not first, "extend() replaces stores built by the old factory"
    assert m.store().name == "made"
    m.extend("custom", "freight.cache.stores.null:create")
    assert m.store().store.driver == "null"
    m.extend("custom", lambda config, manager: "not a store")  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigurationError, match="not a Store"):
        m.store()


def test_purge_closes_and_rebuilds() -> None:
    m = CacheManager(CONFIG)
    first = m.store()
    first.put("k", 1)
    m.purge()
    assert m.store() is not first and m.missing("k")
    own = m.store("own")
    m.purge("own")
    assert m.store("own") is not own


def test_no_config_means_the_embedded_defaults() -> None:
    m = CacheManager()
    assert m.default_name() == "file"
    store = m.store().store
    assert isinstance(store, FileStore)
    assert store.root.endswith(str(Path("storage") / "cache"))
    assert sorted(m.names()) == ["array", "file", "null"]


def test_the_manager_forwards_the_whole_repository_api() -> None:
    public = {n for n, _ in inspect.getmembers(Repository, inspect.isfunction) if not n.startswith("_")}
    not_forwarded = {
        "listen",
        "close",
        "aclose",
        "reset_stats",
    }  # manager-level equivalents differ on purpose
    for name in sorted(public - not_forwarded):
        assert hasattr(CacheManager, name), f"CacheManager does not forward {name}()"
        mine = inspect.signature(getattr(CacheManager, name))
        theirs = inspect.signature(getattr(Repository, name))
        assert list(mine.parameters) == list(theirs.parameters), name


def test_forwarded_calls_act_on_the_default_store() -> None:
    m = CacheManager(CONFIG)
    repo = m.store()
    assert m.put("a", 1) and repo.get("a") == 1
    assert m.add("b", 2) and m.get("b") == 2 and m.has("b") and not m.missing("b")
    assert m.put_many({"c": 3}) and m.many(["a", "c"]) == {"a": 1, "c": 3}
    assert m.forever("d", 4) and m.pull("d") == 4 and m.forget("a")
    assert m.increment("n", 2) == 2 and m.decrement("n") == 1
    assert m.remember("r", 10, lambda: "x") == "x" and m.remember_forever("f", lambda: "y") == "y"
    assert m.touch("r", 20)
    lock = m.lock("l", 5)
    assert lock.acquire() and m.restore_lock("l", lock.owner).release()
    assert m.prune() == 0 and m.stats()["writes"] == repo.stats()["writes"]
    assert m.flush() and repo.missing("b")


def test_importing_and_using_local_stores_imports_no_client_library(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from freight.cache.manager import CacheManager\n"
        f"m = CacheManager({{'default': 'a', 'stores': {{'a': {{'driver': 'array'}},"
        f" 'f': {{'driver': 'file', 'path': {str(tmp_path)!r}}}, 'n': {{'driver': 'null'}}}}}})\n"
        "m.put('k', 1); m.store('f').put('k', 1); m.store('n').put('k', 1)\n"
        "loaded = [m for m in ('redis', 'pymemcache', 'sqlalchemy') if m in sys.modules]\n"
        "print(','.join(loaded) or 'none')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "none", out.stdout + out.stderr


def test_builtin_drivers_are_registered_by_import_path() -> None:
    assert set(BUILTIN_DRIVERS) == {"array", "file", "null", "failover", "redis", "memcached", "database"}
    assert CacheManager(CONFIG).drivers() == sorted(BUILTIN_DRIVERS)
