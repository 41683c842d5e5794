"""Key layout and versions on every store: ``<escaped prefix>:<version>:<key>`` is unambiguous."""

from __future__ import annotations

import pytest
from cachekit import CacheEnv, flush_scoped, persistent

from freight.cache.manager import CacheManager
from freight.cache.repository import Repository
from freight.cache.stores.base import escape_prefix, key_prefix, lock_prefix
from freight.errors import ConfigurationError


@pytest.mark.parametrize(
    ("prefix", "escaped"),
    [
        ("myapp", "myapp"),
        ("a:b", "a%3Ab"),
        ("p#lock", "p%23lock"),
        ("{x}", "%7Bx%7D"),
        ("é %", "%C3%A9%20%25"),
    ],
)
def test_an_escaped_prefix_never_holds_a_separator(prefix: str, escaped: str) -> None:
    assert escape_prefix(prefix) == escaped
    assert key_prefix(prefix, 3) == f"{escaped}:3:" and lock_prefix(prefix) == f"{escaped}:lock:"
    assert key_prefix(prefix, 3, "t") == f"{escaped}:3#t:"


@flush_scoped
def test_flush_of_a_prefix_never_touches_a_prefix_it_starts(env: CacheEnv, unique: str) -> None:
    longer = env.new_manager(prefix=unique + ":v2").store()
    longer.put("k", "v2")
    env.cache.put("k", "v1")
    assert env.cache.flush()
    assert env.cache.missing("k") and longer.get("k") == "v2"


@persistent
def test_a_prefix_ending_in_the_separator_is_another_key_space(env: CacheEnv, unique: str) -> None:
    plain, colon = env.new_manager(prefix=unique).store(), env.new_manager(prefix=unique + ":").store()
    plain.put(":x", "plain")
    colon.put("x", "colon")
    assert plain.get(":x") == "plain" and colon.get("x") == "colon"
    assert plain.missing("x") and colon.missing(":x")


@persistent
def test_locks_of_a_prefix_never_meet_entries_of_another(env: CacheEnv, unique: str) -> None:
    entries = env.new_manager(prefix=unique + "#lock").store()
    entries.put("job", "value")
    lock = env.new_manager(prefix=unique).store().lock("job", 10)
    assert lock.acquire(), "the entry of prefix '<p>#lock' is not the lock of '<p>'"
    assert entries.get("job") == "value"
    lock.release()


@persistent
def test_a_version_is_a_key_space_of_its_own(env: CacheEnv, unique: str) -> None:
    one, two = env.cache, env.new_manager(version=2).store()
    one.put("k", "one")
    assert two.missing("k")
    two.put("k", "two")
    assert one.get("k") == "one" and two.get("k") == "two"
    if env.caps.flush_scoped:
        assert two.flush()
        assert one.get("k") == "one" and two.missing("k")


@persistent
def test_short_keys_with_a_lone_surrogate_work(env: CacheEnv, cache: Repository) -> None:
    for key in ("\ud800", "a\udfffb", "é\ud83d"):
        assert cache.put(key, "v")
        assert cache.get(key) == "v" and cache.many([key]) == {key: "v"}
        assert cache.add(key, "no") is False and cache.forget(key)


@pytest.mark.parametrize("bad", [-1, "v2", 1.5, True])
def test_a_bad_version_is_refused(bad: object) -> None:
    manager = CacheManager({"default": "a", "stores": {"a": {"driver": "array", "version": bad}}})
    with pytest.raises(ConfigurationError, match="version"):
        manager.store()
