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


def manager(stores: dict[str, Any], failover: Any, clock: FakeClock | None = None) -> CacheManager:
    config = {"default": "main", "stores": {**stores, "main": {"driver": "failover", "stores": failover}}}
    m = CacheManager(config, clock=clock or FakeClock())
    m.extend("down", down_store)
    m.extend("flaky", lambda config, mgr: Flaky(name=config["name"], clock=mgr.clock))
    return m


def test_uses_the_first_store_while_it_answers() -> None:
    m = manager({"a": {"driver": "array"}, "b": {"driver": "array"}}, ["a", "b"])
    m.put("k", "v")
    assert m.store("a").get("k") == "v"
    assert m.store("b").missing("k")


def test_a_connection_error_moves_on_and_is_logged_once_per_streak(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    m = manager({"flaky": {"driver": "flaky"}, "backup": {"driver": "array"}}, ["flaky", "backup"], clock)
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
        failover = m.store().store
        assert isinstance(failover, FailoverStore)
        failover.probe_runner = lambda probe: probe()
        m.put("skipped", 1)
        assert m.store("flaky").missing("skipped"), "the circuit stays open for the cool-down"
        clock.advance(5)
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


def test_a_dead_store_is_skipped_during_its_cool_down_then_probed_once() -> None:
    clock = FakeClock()
    m = manager({"d": {"driver": "down"}, "a": {"driver": "array"}}, ["d", "a"], clock)
    failover = m.store().store
    assert isinstance(failover, FailoverStore)
    down = failover.stores[0]
    probes: list[Any] = []
    failover.probe_runner = probes.append  # held, so the test runs them when it wants
    m.put("k", 1)
    assert down.calls == 1  # type: ignore[attr-defined]
    for _ in range(50):
        assert m.get("k") == 1
    assert down.calls == 1, "no call reaches a store whose circuit is open"  # type: ignore[attr-defined]
    clock.advance(5)
    for _ in range(10):
        assert m.get("k") == 1
    assert len(probes) == 1, "one probe at a time"
    probes.pop()()
    assert down.calls == 2  # type: ignore[attr-defined]
    clock.advance(4.9)
    m.get("k")
    assert not probes, "a failed probe starts another cool-down"
    clock.advance(0.1)
    m.get("k")
    assert len(probes) == 1


def test_when_every_circuit_is_open_each_store_is_still_tried() -> None:
    m = manager({"d1": {"driver": "down"}, "d2": {"driver": "down"}}, ["d1", "d2"])
    for _ in range(3):
        with pytest.raises(CacheConnectionError, match="'d2'"):
            m.get("k")
    failover = m.store().store
    assert isinstance(failover, FailoverStore)
    assert [s.calls for s in failover.stores] == [3, 3]  # type: ignore[attr-defined]


def test_a_cooldown_of_zero_tries_the_first_store_every_time() -> None:
    config = {"d": {"driver": "down"}, "a": {"driver": "array"}}
    m = manager(config, ["d", "a"])
    m.config["stores"]["main"]["cooldown"] = 0
    for _ in range(3):
        m.put("k", 1)
    failover = m.store().store
    assert isinstance(failover, FailoverStore) and failover.stores[0].calls == 3  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="cooldown"):
        bad = manager(config, ["d", "a"])
        bad.config["stores"]["main"]["cooldown"] = -1
        bad.store()
