"""Failover store specifics: order, streak logging, recovery, all-down, configuration errors."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from cachekit import FakeClock, down_store

from freight.cache.events import CacheEvent, CacheFailedOver
from freight.cache.manager import CacheManager
from freight.cache.stores.array import ArrayStore
from freight.cache.stores.failover import FailoverStore
from freight.errors import CacheConnectionError, CacheError, ConfigurationError


class Flaky(ArrayStore):
    """An array store whose server can be switched off."""

    driver = "flaky"
    down = False

    def get(self, key: str) -> bytes | None:
        if self.down:
            raise CacheConnectionError(f"cache store {self.name!r}: connection refused")
        return super().get(key)

    def put(self, key: str, value: bytes, seconds: float | None) -> bool:
        if self.down:
            raise CacheConnectionError(f"cache store {self.name!r}: connection refused")
        return super().put(key, value, seconds)


def manager(stores: dict[str, Any], failover: list[str]) -> CacheManager:
    config = {"default": "main", "stores": {**stores, "main": {"driver": "failover", "stores": failover}}}
    m = CacheManager(config, clock=FakeClock())
    m.extend("down", down_store)
    m.extend("flaky", lambda config, mgr: Flaky(name=config["name"], clock=mgr.clock))
    return m


def test_uses_the_first_store_while_it_answers() -> None:
    m = manager({"a": {"driver": "array"}, "b": {"driver": "array"}}, ["a", "b"])
    m.put("k", "v")
    assert m.store("a").get("k") == "v"
    assert m.store("b").missing("k")


def test_a_connection_error_moves_on_and_is_logged_once_per_streak(caplog: pytest.LogCaptureFixture) -> None:
    m = manager({"flaky": {"driver": "flaky"}, "backup": {"driver": "array"}}, ["flaky", "backup"])
    events: list[CacheEvent] = []
    m.listen(events.append)
    flaky = m.store("flaky").store
    assert isinstance(flaky, Flaky)
    flaky.down = True
    with caplog.at_level(logging.INFO, logger="freight.cache"):
        for i in range(5):
            m.put(f"k{i}", i)
            assert m.get(f"k{i}") == i
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, "one warning per failing streak, not per call"
        assert "'flaky'" in warnings[0].getMessage() and "connection refused" in warnings[0].getMessage()
        assert m.store("backup").get("k4") == 4
        flaky.down = False
        m.put("back", 1)
        assert m.store("flaky").get("back") == 1
        recovered = [r for r in caplog.records if "reachable again" in r.getMessage()]
        assert len(recovered) == 1
        flaky.down = True
        m.put("again", 1)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2, "a new streak logs again"
    failovers = [e for e in events if isinstance(e, CacheFailedOver)]
    assert [(e.store, e.failed) for e in failovers] == [("main", "flaky"), ("main", "flaky")]


def test_every_store_down_raises_the_last_error() -> None:
    m = manager({"d1": {"driver": "down"}, "d2": {"driver": "down"}}, ["d1", "d2"])
    with pytest.raises(CacheConnectionError, match="'d2'"):
        m.get("k")
    with pytest.raises(CacheConnectionError):
        m.lock("l", 5).acquire()


def test_other_errors_are_not_failed_over(tmp_path: Path) -> None:
    m = manager({"a": {"driver": "array"}, "b": {"driver": "array"}}, ["a", "b"])
    m.put("s", "text")
    with pytest.raises(CacheError, match="not an integer"):
        m.increment("s")
    assert m.store("b").missing("s")


def test_locks_follow_the_failover() -> None:
    m = manager({"d": {"driver": "down"}, "a": {"driver": "array"}}, ["d", "a"])
    lock = m.lock("l", 10)
    assert lock.acquire()
    assert m.store("a").lock("l").current_owner() == lock.owner
    assert m.restore_lock("l", lock.owner).release()
    assert lock.current_owner() is None
    assert lock.refresh() is False
    lock.force_release()


@pytest.mark.parametrize(
    ("stores", "failover", "message"),
    [
        ({}, [], "non-empty list"),
        ({}, "a", "non-empty list"),
        ({"a": {"driver": "array"}}, ["main"], "lists itself"),
        ({"a": {"driver": "failover", "stores": ["main"]}}, ["a"], "main -> a -> main"),
        ({}, ["nope"], "'nope' is not configured"),
    ],
)
def test_configuration_errors(stores: dict[str, Any], failover: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        manager(stores, failover).store()


def test_describe_names_the_stores() -> None:
    m = manager({"a": {"driver": "array"}, "b": {"driver": "array"}}, ["a", "b"])
    store = m.store().store
    assert isinstance(store, FailoverStore)
    assert store.describe() == "failover [a, b]"
    assert m.prune() == 0
