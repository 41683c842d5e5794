"""Property tests: any string key and any value the JSON codec supports round-trip on every store."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cachekit import CacheEnv, persistent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Keys: anything, with the awkward characters over-represented (control characters,
# CR/LF, spaces, long runs), up to 10,000 characters.
awkward = st.sampled_from(["\r\n", "\n", " ", "\t", "\x00", "\x7f", ":", "*", "?", "[", "%", "'", "é", "✓"])
keys = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(awkward, st.text(max_size=5)), max_size=60).map("".join),
    st.text(alphabet=st.characters(max_codepoint=0x20), min_size=1, max_size=50),
    st.integers(min_value=251, max_value=10_000).map(lambda n: ("k\r\n " * n)[:n]),
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
    st.binary(max_size=64),
    st.datetimes(timezones=st.none() | st.just(dt.UTC)),
    st.dates(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.uuids(),
)
hashables = st.one_of(st.integers(), st.text(max_size=20), st.booleans())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=10), inner, max_size=4),
        st.dictionaries(st.integers(), inner, max_size=3),
        st.frozensets(hashables, max_size=4),
        st.sets(hashables, max_size=4),
    ),
    max_leaves=12,
)

PROPERTY_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (1 == True == 1.0 is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    return bool(a == b)


@persistent
@PROPERTY_SETTINGS
@given(key=keys, value=values)
def test_any_key_and_value_round_trip(env: CacheEnv, key: str, value: Any) -> None:
    cache = env.cache
    assert cache.put(key, value)
    got = cache.get(key, "missing")
    assert same(got, value), f"{got!r} != {value!r}"
    assert cache.has(key)
    assert cache.forget(key)
    assert cache.missing(key)


@persistent
@PROPERTY_SETTINGS
@given(key_list=st.lists(keys, min_size=1, max_size=5, unique=True), data=st.data())
def test_any_keys_round_trip_through_many(env: CacheEnv, key_list: list[str], data: st.DataObject) -> None:
    cache = env.cache
    mapping = {k: data.draw(values) for k in key_list}
    assert cache.put_many(mapping, 600)
    got = cache.many(key_list)
    assert all(same(got[k], v) for k, v in mapping.items())
    for key in key_list:
        cache.forget(key)
        assert cache.increment(key, 3) == 3
