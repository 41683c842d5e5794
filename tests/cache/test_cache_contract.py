"""The Cache API (docs/cache.md), on every backend (see conftest.py for the list)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from decimal import Decimal
from typing import Any

import pytest
from cachekit import CacheEnv, flush_scoped, persistent

from freight.cache.repository import Repository
from freight.errors import CacheError, InvalidKeyError, SerializationError
from freight.serialization import make_codec

VALUES: list[Any] = [
    "text",
    "",
    "ünïcødé ✓ \x00 \r\n",
    0,
    -7,
    2**70,
    1.5,
    True,
    False,
    [1, "two", None],
    {"nested": {"list": [1, 2], "none": None}},
    (1, 2),
    {1, 2, 3},
    b"\x00\xffbytes",
    dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
    dt.date(2024, 5, 1),
    Decimal("1.10"),
    uuid.UUID(int=7),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
@persistent
def test_put_then_get_round_trips(env: CacheEnv, cache: Repository, value: Any) -> None:
    assert cache.put("k", value) is True
    got = cache.get("k")
    assert got == value and type(got) is type(value)


def test_get_returns_default_on_a_miss_and_calls_a_callable_default(cache: Repository) -> None:
    calls: list[int] = []

    def compute() -> str:
        calls.append(1)
        return "computed"

    assert cache.get("absent") is None
    assert cache.get("absent", "fallback") == "fallback"
    assert cache.get("absent", compute) == "computed"
    assert calls == [1]
    assert cache.get("absent", list) == []


@persistent
def test_a_callable_default_is_not_called_on_a_hit(env: CacheEnv, cache: Repository) -> None:
    cache.put("k", "v")
    assert cache.get("k", lambda: pytest.fail("default called on a hit")) == "v"


@persistent
def test_a_cached_none_is_a_hit(env: CacheEnv, cache: Repository) -> None:
    assert cache.put("k", None)
    assert cache.has("k") and not cache.missing("k")
    assert cache.get("k", "default") is None
    assert cache.pull("k", "default") is None
    assert cache.missing("k")


def test_has_and_missing(env: CacheEnv, cache: Repository) -> None:
    assert not cache.has("k") and cache.missing("k")
    cache.put("k", 0)
    assert cache.has("k") is env.caps.persists


@persistent
def test_pull_returns_and_removes(env: CacheEnv, cache: Repository) -> None:
    cache.put("k", {"a": 1})
    assert cache.pull("k") == {"a": 1}
    assert cache.missing("k")
    assert cache.pull("k", "gone") == "gone"
    assert cache.pull("k", lambda: "computed") == "computed"


@persistent
def test_forever_keeps_the_value(env: CacheEnv, cache: Repository) -> None:
    assert cache.forever("k", "v")
    if env.caps.uses_clock:
        env.clock.advance(10 * 365 * 86400)
    assert cache.get("k") == "v"


@persistent
def test_put_overwrites(env: CacheEnv, cache: Repository) -> None:
    cache.put("k", "old")
    cache.put("k", "new")
    assert cache.get("k") == "new"


@persistent
def test_add_stores_only_when_absent(env: CacheEnv, cache: Repository) -> None:
    assert cache.add("k", "first") is True
    assert cache.add("k", "second") is False
    assert cache.get("k") == "first"
    cache.put("none", None)
    assert cache.add("none", "x") is False, "a cached None is present"
    assert cache.add("ttl", "v", 0) is False and cache.missing("ttl")


@persistent
def test_forget_reports_whether_the_key_existed(env: CacheEnv, cache: Repository) -> None:
    cache.put("k", "v")
    assert cache.forget("k") is True
    assert cache.missing("k")
    assert cache.forget("k") is False


@persistent
def test_many_and_put_many(env: CacheEnv, cache: Repository) -> None:
    assert cache.put_many({"a": 1, "b": None, "c": [3]}) is True
    assert cache.many(["a", "b", "c", "absent"]) == {"a": 1, "b": None, "c": [3], "absent": None}
    assert cache.many(iter(["a", "absent"]), default="d") == {"a": 1, "absent": "d"}
    assert cache.many([]) == {}
    assert cache.put_many({}) is True


def test_increment_and_decrement_start_at_zero(cache: Repository) -> None:
    assert cache.increment("n") == 1
    assert cache.increment("m", 5) == 5
    assert cache.decrement("d") == -1
    assert cache.decrement("e", 3) == -3


@persistent
def test_increment_and_decrement_are_readable_integers(env: CacheEnv, cache: Repository) -> None:
    assert cache.increment("n") == 1
    assert cache.increment("n", 10) == 11
    assert cache.decrement("n", 4) == 7
    assert cache.increment("n", -2) == 5
    assert cache.get("n") == 5 and type(cache.get("n")) is int
    cache.put("p", 41)
    assert cache.increment("p") == 42
    assert cache.decrement("p", 50) == -8
    assert cache.get("p") == -8


@persistent
def test_increment_refuses_a_non_integer_value(env: CacheEnv, cache: Repository) -> None:
    cache.put("s", "not a number")
    with pytest.raises(CacheError):
        cache.increment("s")
    with pytest.raises(TypeError):
        cache.increment("n", 1.5)  # type: ignore[arg-type]


def test_remember_computes_once(env: CacheEnv, cache: Repository) -> None:
    calls: list[str] = []

    def compute() -> dict[str, int]:
        calls.append("x")
        return {"v": len(calls)}

    assert cache.remember("k", 60, compute) == {"v": 1}
    assert cache.remember("k", 60, compute) == ({"v": 1} if env.caps.persists else {"v": 2})
    assert len(calls) == (1 if env.caps.persists else 2)


@persistent
def test_remember_caches_none_and_remember_forever(env: CacheEnv, cache: Repository) -> None:
    calls: list[int] = []
    assert cache.remember("none", 60, lambda: calls.append(1)) is None
    assert cache.remember("none", 60, lambda: calls.append(1)) is None
    assert calls == [1]
    assert cache.remember_forever("f", lambda: "computed") == "computed"
    assert cache.remember_forever("f", lambda: "again") == "computed"


@persistent
def test_touch_an_existing_key(env: CacheEnv, cache: Repository) -> None:
    assert cache.touch("absent", 60) is False
    cache.put("k", "v", 60)
    assert cache.touch("k", 120) is True
    assert cache.get("k") == "v"
    assert cache.touch("k", None) is True
    assert cache.get("k") == "v"


def test_flush_removes_every_entry(env: CacheEnv, cache: Repository) -> None:
    cache.put_many({"a": 1, "b": 2})
    cache.increment("n")
    assert cache.flush() is True
    assert cache.many(["a", "b", "n"]) == {"a": None, "b": None, "n": None}


@flush_scoped
def test_flush_keeps_other_prefixes(env: CacheEnv, unique: str) -> None:
    neighbour = env.new_manager(prefix=unique + "-other").store()
    cache = env.cache
    cache.put("k", "mine")
    neighbour.put("k", "theirs")
    assert cache.get("k") == "mine", "two prefixes must not see each other"
    assert cache.flush()
    assert cache.missing("k")
    assert neighbour.get("k") == "theirs"


@persistent
def test_another_process_sees_the_same_entries(env: CacheEnv, cache: Repository) -> None:
    cache.put("k", {"from": "first"})
    other = env.other_process()
    assert other.get("k") == {"from": "first"}
    other.put("k2", 2)
    assert cache.get("k2") == 2


@pytest.mark.parametrize("key", [1, None, b"bytes", ("t",), 1.5])
def test_a_non_string_key_is_an_invalid_key_error(cache: Repository, key: Any) -> None:
    calls = [
        lambda: cache.get(key),
        lambda: cache.put(key, 1),
        lambda: cache.add(key, 1),
        lambda: cache.has(key),
        lambda: cache.pull(key),
        lambda: cache.forget(key),
        lambda: cache.increment(key),
        lambda: cache.touch(key, 1),
        lambda: cache.remember(key, 1, lambda: 1),
        lambda: cache.many(["ok", key]),
        lambda: cache.put_many({key: 1}),
        lambda: cache.lock(key),
    ]
    for call in calls:
        with pytest.raises(InvalidKeyError):
            call()


def test_a_value_the_codec_cannot_encode_raises_and_writes_nothing(env: CacheEnv, cache: Repository) -> None:
    with pytest.raises(SerializationError, match="'k'"):
        cache.put("k", object())
    with pytest.raises(SerializationError):
        cache.add("k", object())
    with pytest.raises(SerializationError):
        cache.put_many({"a": 1, "k": object(), "c": 3})
    with pytest.raises(SerializationError):
        cache.remember("k", 10, object)
    assert cache.many(["k", "a", "c"]) == {"k": None, "a": None, "c": None}
    assert cache.stats()["writes"] == 0


@persistent
def test_an_undecodable_value_is_a_logged_miss_and_is_forgotten(
    env: CacheEnv, cache: Repository, caplog: pytest.LogCaptureFixture
) -> None:
    cache.store.put("k", b"{not json", None)
    with caplog.at_level(logging.WARNING, logger="freight.cache"):
        assert cache.get("k", "miss") == "miss"
    assert "'k'" in caplog.text
    assert cache.store.get("k") is None, "the unreadable entry is removed"
    cache.store.put("m", b"\xff\xfe", None)
    assert cache.many(["m"]) == {"m": None}
    assert cache.stats()["misses"] == 2 and cache.stats()["hits"] == 0


@pytest.mark.parametrize("serializer", ["json", "pickle"])
@persistent
def test_a_tampered_signed_value_is_a_miss(
    env: CacheEnv, serializer: str, caplog: pytest.LogCaptureFixture
) -> None:
    signed = Repository(env.cache.store, make_codec(serializer, "k3y-k3y-k3y-k3y-k3y"), clock=env.clock)
    forger = Repository(env.cache.store, make_codec(serializer, "another key, another key"), clock=env.clock)
    assert signed.put("k", {"amount": 10})
    assert signed.get("k") == {"amount": 10}
    raw = signed.store.get("k")
    assert raw is not None
    signed.store.put("k", raw[:-1] + bytes([raw[-1] ^ 1]), None)
    with caplog.at_level(logging.WARNING, logger="freight.cache"):
        assert signed.get("k", "miss") == "miss"
    assert "'k'" in caplog.text
    forger.put("k", {"amount": 10_000})
    assert signed.get("k", "miss") == "miss"
    assert signed.increment("n", 3) == 3, "integers stay raw digits under signing"
    assert signed.get("n") == 3
