"""The generic driver registry: resolution, memoisation, extend(), purge(), unknown names."""

from __future__ import annotations

from typing import Any

import pytest

from freight.errors import ConfigurationError
from freight.manager import Manager, import_object


class Thing:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.closed = False

    def close(self) -> None:
        self.closed = True


class ThingManager(Manager[Thing]):
    kind = "thing"
    items_key = "things"

    def builtin_drivers(self) -> dict[str, Any]:
        return {"plain": lambda config, manager: Thing(config)}


def make(**things: Any) -> ThingManager:
    return ThingManager({"default": "a", "things": things or {"a": {"driver": "plain"}}})


def test_resolves_default_and_named() -> None:
    manager = make(a={"driver": "plain", "x": 1}, b={"driver": "plain", "x": 2})
    assert manager.resolve().config["x"] == 1
    assert manager.resolve("b").config == {"driver": "plain", "x": 2, "name": "b"}


def test_resolution_is_memoised() -> None:
    manager = make()
    assert manager.resolve("a") is manager.resolve("a") is manager.resolve()


def test_purge_closes_and_rebuilds() -> None:
    manager = make()
    first = manager.resolve()
    manager.purge("a")
    assert first.closed
    assert manager.resolve() is not first
    manager.purge()
    assert manager.resolve() is not first


def test_extend_registers_a_custom_driver() -> None:
    manager = make(a={"driver": "custom"})
    seen: list[Any] = []

    def factory(config: dict[str, Any], mgr: Any) -> Thing:
        seen.append(mgr)
        return Thing(config)

    manager.extend("custom", factory)
    assert manager.resolve().config["driver"] == "custom"
    assert seen == [manager]
    assert "custom" in manager.drivers()


def test_extend_replaces_and_forgets_resolved_instances() -> None:
    manager = make()
    old = manager.resolve()
    manager.extend("plain", lambda config, mgr: Thing({**config, "new": True}))
    assert manager.resolve() is not old
    assert manager.resolve().config["new"] is True


def test_extend_accepts_an_import_path() -> None:
    manager = make(a={"driver": "imported"})
    manager.extend("imported", "tests.test_manager:imported_factory")
    assert manager.resolve().config["via"] == "import"


def imported_factory(config: dict[str, Any], manager: Any) -> Thing:
    return Thing({**config, "via": "import"})


def test_unknown_name_lists_configured_names() -> None:
    manager = make(a={"driver": "plain"}, b={"driver": "plain"})
    with pytest.raises(ConfigurationError, match=r"thing 'zzz' is not configured; configured things: a, b"):
        manager.resolve("zzz")


def test_unknown_driver_lists_known_drivers() -> None:
    manager = make(a={"driver": "nope"})
    with pytest.raises(ConfigurationError, match=r"unknown driver 'nope'; known drivers: plain"):
        manager.resolve()


def test_missing_driver_key_and_missing_default() -> None:
    with pytest.raises(ConfigurationError, match="has no 'driver'"):
        make(a={"x": 1}).resolve()
    with pytest.raises(ConfigurationError, match="no default thing"):
        ThingManager({"things": {}}).resolve()


def test_import_object_errors_are_configuration_errors() -> None:
    assert import_object("os.path:join") is import_object("os.path.join")
    with pytest.raises(ConfigurationError):
        import_object("no_such_module_xyz:thing")
    with pytest.raises(ConfigurationError):
        import_object("os:no_such_attribute")
    with pytest.raises(ConfigurationError):
        import_object("justaname")
