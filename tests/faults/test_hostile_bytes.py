"""Property tests (issue 5, item 8): decoders fed arbitrary bytes raise only their typed errors.

The payload decoder may raise :class:`PayloadError` and nothing else; a codec may raise
:class:`SerializationError` and nothing else, whatever bytes an attacker manages to put
in a queue or a cache.
"""

from __future__ import annotations

import json
import pickle

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from freight.errors import PayloadError, SerializationError
from freight.queue import payload
from freight.serialization import JsonCodec, SignedCodec, Signer, make_codec

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = "fault-test-key-fault-test-key"

# JSON-ish text: random structure is far likelier to reach deep decoder paths than noise.
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
tagged = st.fixed_dictionaries(
    {
        "__freight__": st.sampled_from(
            [
                "map",
                "tuple",
                "datetime",
                "date",
                "time",
                "timedelta",
                "decimal",
                "uuid",
                "bytes",
                "set",
                "frozenset",
                "pickle",
                "nope",
                "",
            ]
        ),
        "v": json_values,
    }
)
hostile_json = st.recursive(
    json_values | tagged,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)
payload_like = st.fixed_dictionaries(
    {"uuid": json_values, "job": json_values, "data": hostile_json},
    optional={"attempts": json_values, "backoff": json_values, "timeout": json_values},
)
as_bytes = st.one_of(
    st.binary(max_size=512),
    hostile_json.map(lambda v: json.dumps(v).encode()),
    payload_like.map(lambda v: json.dumps(v).encode()),
)
DEEP = b"[" * 100_000 + b"]" * 100_000


def _signed(raw: bytes) -> bytes:
    return b"sig:" + Signer(KEY, purpose="queue").signature(raw).hex().encode() + b":" + raw


@SETTINGS
@given(as_bytes)
@example(b"sig:zz:{}")
@example(b"sig:")
@example(b'{"uuid":1,"job":"os:system","data":{"__freight__":"bytes","v":"!!"}}')
@example(DEEP)
@example(b"\xff\xfe")
def test_payload_loads_raises_only_payload_error(raw: bytes) -> None:
    for signer in (None, Signer(KEY, purpose="queue")):
        for candidate in (raw, _signed(raw)):
            try:
                result = payload.loads(candidate, signer)
            except PayloadError:
                continue
            assert isinstance(result, dict)
            assert isinstance(result["job"], str) and isinstance(result["data"], dict)


@SETTINGS
@given(as_bytes)
@example(DEEP)
@example(pickle.dumps(object()))
def test_payload_loads_accepts_text_as_well_as_bytes(raw: bytes) -> None:
    text = raw.decode("utf-8", errors="replace")
    try:
        payload.loads(text)
    except PayloadError:
        pass


@SETTINGS
@given(as_bytes)
@example(DEEP)
@example(b'{"__freight__":"decimal","v":"NaN-ish"}')
@example(b'{"__freight__":"map","v":[[[1],2]]}')
@example(b'{"__freight__":"set","v":[{"a":1}]}')
@example(b'{"__freight__":"timedelta","v":[1e308,0,0]}')
@example(b'{"__freight__":"datetime","v":"9999-99-99"}')
def test_codecs_raise_only_serialization_error(raw: bytes) -> None:
    codecs = [JsonCodec(), make_codec("json", KEY), make_codec("pickle", KEY)]
    for codec in codecs:
        for candidate in (raw, b"$" + raw, b"$" + Signer(KEY, purpose="cache").sign(raw)):
            if codec.name == "signed-pickle" and candidate.startswith(b"$") and candidate != b"$" + raw:
                continue  # a correctly signed value is trusted by design: only the key holder makes one
            try:
                codec.loads(candidate)
            except SerializationError:
                pass


@SETTINGS
@given(st.binary(max_size=256), st.binary(min_size=1, max_size=64))
def test_signed_codec_never_trusts_a_value_signed_with_another_key(raw: bytes, other: bytes) -> None:
    codec = SignedCodec(JsonCodec(), KEY)
    forged = b"$" + Signer(other + b"-not-the-key-at-all", purpose="cache").sign(raw)
    try:
        codec.loads(forged)
    except SerializationError:
        return
    raise AssertionError("a value signed with another key was accepted")
