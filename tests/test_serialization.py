"""Codecs: every tagged type round-trips exactly; signed pickle detects tampering."""

from __future__ import annotations

import datetime as dt
import json
import pickle
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freight.errors import ConfigurationError, SerializationError
from freight.serialization import (
    JsonCodec,
    SignatureError,
    SignedCodec,
    decode_tagged_json,
    encode_json,
    make_codec,
)

K = "secret-signing-key-1"
K2 = "secret-signing-key-2"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.text(),
    st.binary(),
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.decimals(allow_nan=False),
    st.uuids(),
)
hashables = st.one_of(st.integers(), st.text(), st.booleans(), st.uuids(), st.dates(), st.binary())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(), inner, max_size=4),
        st.dictionaries(hashables, inner, max_size=4),
        st.sets(hashables, max_size=4),
        st.frozensets(hashables, max_size=4),
    ),
    max_leaves=12,
)


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same type all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dt.datetime):
        return a == b and a.tzinfo == b.tzinfo and a.utcoffset() == b.utcoffset()
    return bool(a == b)


@settings(max_examples=300)
@given(values)
def test_json_codec_round_trips_exactly(value: Any) -> None:
    codec = JsonCodec()
    assert same(codec.loads(codec.dumps(value)), value)


@settings(max_examples=100)
@given(values)
def test_signed_codecs_round_trip(value: Any) -> None:
    for codec in (make_codec("pickle", K), make_codec("json", K)):
        assert same(codec.loads(codec.dumps(value)), value)


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
        dt.date(2024, 5, 1),
        dt.time(23, 59, 1, 5),
        dt.timedelta(days=-3, seconds=5, microseconds=7),
        Decimal("3.14159265358979323846"),
        uuid.UUID(int=7),
        b"\x00\xff",
        {1, "a"},
        frozenset({2}),
        (1, (2, 3)),
        {1: "int key", (1, 2): "tuple key"},
        {"__freight__": "a user key that looks like our tag"},
    ],
)
def test_each_tagged_type_round_trips(value: Any) -> None:
    codec = JsonCodec()
    assert same(codec.loads(codec.dumps(value)), value)


def test_integers_are_ascii_digits_for_native_increments() -> None:
    for codec in (JsonCodec(), make_codec("pickle", K), make_codec("json", K)):
        assert codec.dumps(42) == b"42"
        assert codec.dumps(-7) == b"-7"
        assert codec.loads(b"8000") == 8000
    assert JsonCodec().dumps(True) == b"true"


def test_unencodable_value_names_its_type() -> None:
    class Widget:
        pass

    with pytest.raises(SerializationError, match="Widget"):
        JsonCodec().dumps({"w": Widget()})
    with pytest.raises(SerializationError):
        make_codec("pickle", K).dumps(lambda: 1)


@settings(max_examples=300)
@given(st.binary())
def test_decoding_garbage_raises_only_serialization_error(data: bytes) -> None:
    for codec in (JsonCodec(), make_codec("pickle", K), make_codec("json", K)):
        try:
            codec.loads(data)
        except SerializationError:
            pass


def test_malformed_tags_are_serialization_errors() -> None:
    codec = JsonCodec()
    bad = (b'{"__freight__":"nope","v":1}', b'{"__freight__":"set","v":[[1]]}', b'{"__freight__":"uuid"}')
    for raw in bad:
        with pytest.raises(SerializationError):
            codec.loads(raw)


def test_pickle_requires_a_key() -> None:
    with pytest.raises(ConfigurationError, match="requires a 'key'"):
        make_codec("pickle")
    with pytest.raises(ConfigurationError, match="unknown serializer"):
        make_codec("yaml")


def test_tampered_or_foreign_signed_values_are_rejected() -> None:
    codec = make_codec("pickle", K)
    data = bytearray(codec.dumps({"a": 1}))
    data[-1] ^= 1
    with pytest.raises(SignatureError):
        codec.loads(bytes(data))
    with pytest.raises(SignatureError):
        make_codec("pickle", K2).loads(codec.dumps({"a": 1}))


def test_unsigned_pickle_is_never_loaded() -> None:
    class Boom:
        def __reduce__(self) -> Any:
            return (pytest.fail, ("unpickled an unsigned payload",))

    raw = pickle.dumps(Boom())
    with pytest.raises(SerializationError):
        make_codec("pickle", K).loads(raw)
    with pytest.raises(SerializationError):
        JsonCodec().loads(raw)
    with pytest.raises(SignatureError):
        make_codec("pickle", K).loads(SignedCodec.MARK + raw)


@pytest.mark.parametrize(
    "text", ['{"a":1}', ' {"a":1}', '{"a":1} ', "\n[1, 2]\n", '"x"', "3.5", "null", "NaN", '"\u00e9\\n"']
)
def test_the_scanning_decoder_agrees_with_json_loads(text: str) -> None:
    assert repr(decode_tagged_json(text)) == repr(json.loads(text))


@pytest.mark.parametrize("text", ["", " ", '{"a":1} x', '{"a":1}{"b":2}', "[1,", "{'a':1}", "nul"])
def test_the_scanning_decoder_rejects_what_json_loads_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        decode_tagged_json(text)
    with pytest.raises(SerializationError):
        JsonCodec().loads(text.encode())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_the_compact_encoder_matches_the_standard_one(value: Any) -> None:
    standard = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert encode_json(value) == standard


@pytest.mark.parametrize(
    "value",
    [10**5000, -(10**5000), [10**5000], {"n": 10**4400}, (1, 10**4301)],
    ids=["int", "negative", "in a list", "in a dict", "in a tuple"],
)
def test_integers_past_the_digit_limit_raise_serialization_error(value: Any) -> None:
    """Issue 12, item 8: an int over 4,300 digits is a SerializationError, not a raw ValueError."""
    for codec in (JsonCodec(), make_codec("json", K), make_codec("pickle", K)):
        if codec.name == "signed-pickle" and type(value) is not int:
            continue  # pickle stores big ints inside containers natively
        with pytest.raises(SerializationError):
            codec.dumps(value)
