"""Codecs that turn cache values and job data into bytes and back.

The default is :class:`JsonCodec`: JSON with tagged types, so reading a value can
never run code. Pickle is available only signed with HMAC-SHA256 under a key
(:func:`make_codec`); a value whose signature does not match raises
:class:`SignatureError`, which the cache reports as a miss.

A signing key is a string (or bytes) of at least :data:`MIN_KEY_BYTES` bytes, checked
by :func:`signing_key` when the configuration is loaded. Signatures are
domain-separated: the cache and the queue each sign under a key derived from the
configured one for its own purpose, so a value signed for the cache never verifies as
a job payload, even when both use the same configured key.

Integers always encode as their ASCII digits (``b"42"``) so a backend's native
atomic increment (Redis ``INCRBY``, memcached ``incr``) works on them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import pickle
import uuid
import zoneinfo
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from freight.errors import ConfigurationError, SerializationError

__all__ = [
    "MIN_KEY_BYTES",
    "Codec",
    "decode_tagged_json",
    "encode_json",
    "JsonCodec",
    "SignatureError",
    "SignedCodec",
    "Signer",
    "make_codec",
    "object_hook",
    "signing_key",
    "to_jsonable",
]

TAG = "__freight__"
#: the fewest bytes a signing key may have (a short key can be guessed offline)
MIN_KEY_BYTES = 16
#: the purposes a :class:`Signer` derives its key for; each signs in its own domain
PURPOSES = frozenset({"cache", "queue"})
_SCALARS = (str, int, float, bool, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)


class SignatureError(SerializationError):
    """A signed value's HMAC did not match: it was tampered with or signed with another key."""


@runtime_checkable
class Codec(Protocol):
    """Turns a value into bytes and back."""

    name: str

    def dumps(self, value: Any) -> bytes:
        """Encode ``value``; raise :class:`SerializationError` when it cannot be encoded."""

    def loads(self, data: bytes) -> Any:
        """Decode ``data``; raise :class:`SerializationError` when it is not a valid encoding."""


def _tagged(tag: str, value: Any) -> dict[str, Any]:
    return {TAG: tag, "v": value}


def to_jsonable(obj: Any) -> Any:
    """Convert ``obj`` into plain JSON types, tagging the ones JSON cannot express."""
    kind = type(obj)
    if kind in _SCALARS:
        return obj
    if kind is dict:
        if TAG not in obj:
            for k, v in obj.items():
                if type(k) is not str or type(v) not in _SCALAR_TYPES:
                    break
            else:
                return obj  # string keys, scalar values: already plain JSON (the common case)
            if all(type(k) is str for k in obj):
                return {k: to_jsonable(v) for k, v in obj.items()}
        return _tagged("map", [[to_jsonable(k), to_jsonable(v)] for k, v in obj.items()])
    if kind is list:
        return [to_jsonable(v) for v in obj]
    if kind is tuple:
        return _tagged("tuple", [to_jsonable(v) for v in obj])
    if kind is dt.datetime:
        tz = obj.tzinfo
        if obj.fold or isinstance(tz, zoneinfo.ZoneInfo):  # keep the zone name and the fold
            zone = tz.key if isinstance(tz, zoneinfo.ZoneInfo) else None
            if zone is not None or tz is None:
                return _tagged("zdatetime", [obj.replace(tzinfo=None).isoformat(), zone, obj.fold])
        return _tagged("datetime", obj.isoformat())
    if kind is dt.date:
        return _tagged("date", obj.isoformat())
    if kind is dt.time:
        return _tagged("time", obj.isoformat())
    if kind is dt.timedelta:
        return _tagged("timedelta", [obj.days, obj.seconds, obj.microseconds])
    if kind is Decimal:
        return _tagged("decimal", str(obj))
    if kind is uuid.UUID:
        return _tagged("uuid", str(obj))
    if kind is bytes:
        return _tagged("bytes", base64.b64encode(obj).decode("ascii"))
    if kind is set:
        return _tagged("set", [to_jsonable(v) for v in obj])
    if kind is frozenset:
        return _tagged("frozenset", [to_jsonable(v) for v in obj])
    if isinstance(obj, str | int | float):  # str/int/float subclasses, e.g. enums
        return obj
    raise SerializationError(
        f"cannot encode a value of type {kind.__module__}.{kind.__qualname__} with the JSON codec; "
        "convert it to a supported type or configure serializer='pickle' with a key"
    )


_DECODERS: dict[str, Any] = {
    "map": lambda v: {_hashable(k): val for k, val in v},
    "tuple": tuple,
    "datetime": dt.datetime.fromisoformat,
    "zdatetime": lambda v: dt.datetime.fromisoformat(v[0]).replace(
        tzinfo=zoneinfo.ZoneInfo(v[1]) if v[1] else None, fold=int(v[2])
    ),
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "timedelta": lambda v: dt.timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
    "decimal": Decimal,
    "uuid": uuid.UUID,
    "bytes": lambda v: base64.b64decode(v.encode("ascii"), validate=True),
    "set": lambda v: {_hashable(x) for x in v},
    "frozenset": lambda v: frozenset(_hashable(x) for x in v),
}


def _hashable(value: Any) -> Any:
    if isinstance(value, list | dict):
        raise SerializationError("a set member or mapping key decoded to an unhashable value")
    return value


def object_hook(obj: dict[str, Any]) -> Any:
    tag = obj.get(TAG)
    if tag is None:
        return obj
    decoder = _DECODERS.get(tag) if isinstance(tag, str) else None
    if decoder is None or set(obj) != {TAG, "v"}:
        raise SerializationError(f"unknown or malformed tagged value {tag!r}")
    return decoder(obj["v"])


def _compact_encoder() -> Callable[[Any], str]:
    """Compact JSON text of plain JSON values, with one C encoder built once
    (``JSONEncoder.encode`` builds a new one on every call)."""
    encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has the C accelerator
        return encoder.encode
    # values reach it through to_jsonable, which would already have failed on a cycle,
    # so the encoder keeps no markers for circular references
    iterencode = make(
        None, encoder.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
    join = "".join

    def encode(obj: Any) -> str:
        return join(iterencode(obj, 0))

    return encode


def _scanning_decoder(decoder: json.JSONDecoder) -> Callable[[str], Any]:
    """``decoder.decode`` that calls its C scanner directly when the whole text is one
    value with no surrounding whitespace (what the encoder writes); anything else,
    errors included, goes through ``decode`` itself."""
    scan: Callable[[str, int], tuple[Any, int]] = decoder.scan_once  # type: ignore[attr-defined]
    decode = decoder.decode

    def load(text: str) -> Any:
        try:
            value, end = scan(text, 0)
        except (StopIteration, ValueError):
            return decode(text)
        return value if end == len(text) else decode(text)

    return load


#: compact JSON text of a value made of plain JSON types (see :func:`to_jsonable`)
encode_json = _compact_encoder()
#: the value of JSON text, tagged types decoded (see :func:`object_hook`)
decode_tagged_json = _scanning_decoder(json.JSONDecoder(object_hook=object_hook))
_decode_plain = _scanning_decoder(json.JSONDecoder())


def _digits(value: int) -> bytes:
    """The ASCII digits of ``value``; :class:`SerializationError` past Python's digit limit."""
    try:
        return str(value).encode("ascii")
    except ValueError as exc:  # more digits than sys.get_int_max_str_digits() allows
        raise SerializationError(f"cannot encode an integer this large: {exc}") from exc


class JsonCodec:
    """JSON with tagged types; round-trips datetime, date, time, timedelta, Decimal, UUID,
    bytes, set, frozenset, tuple and dicts with non-string keys exactly."""

    name = "json"

    def dumps(self, value: Any) -> bytes:
        """Encode ``value`` as compact UTF-8 JSON."""
        if type(value) is int:
            return _digits(value)
        try:
            return encode_json(to_jsonable(value)).encode()
        except SerializationError:
            raise
        except (TypeError, ValueError, RecursionError) as exc:
            raise SerializationError(f"cannot encode value with the JSON codec: {exc}") from exc

    def loads(self, data: bytes) -> Any:
        """Decode bytes produced by :meth:`dumps`."""
        try:
            text = data.decode() if isinstance(data, bytes | bytearray) else str(data, "utf-8")
            # the tag-aware decoder costs twice as much; only text holding the tag needs it
            return (decode_tagged_json if TAG in text else _decode_plain)(text)
        except SerializationError:
            raise
        except Exception as exc:  # malformed input may raise many kinds of error
            raise SerializationError(f"cannot decode value with the JSON codec: {exc!r}") from exc


class _PickleCodec:
    """Plain pickle; only ever used wrapped in :class:`SignedCodec`."""

    name = "pickle"

    def dumps(self, value: Any) -> bytes:
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise SerializationError(
                f"cannot pickle a value of type {type(value).__qualname__}: {exc}"
            ) from exc

    def loads(self, data: bytes) -> Any:
        try:
            return pickle.loads(data)  # noqa: S301 - only reached after the HMAC matched
        except Exception as exc:
            raise SerializationError(f"cannot unpickle value: {exc!r}") from exc


def signing_key(key: object, where: str = "key") -> bytes:
    """The bytes of a configured signing key; :class:`ConfigurationError` unless it is a
    string or bytes of at least :data:`MIN_KEY_BYTES` bytes."""
    if isinstance(key, bool) or not isinstance(key, str | bytes | bytearray):
        hint = ' (quote it in TOML: key = "...")' if isinstance(key, int | float) else ""
        raise ConfigurationError(
            f"{where} must be a secret string of at least {MIN_KEY_BYTES} characters, "
            f"not a {type(key).__name__}{hint}"
        )
    raw = key.encode("utf-8", "surrogatepass") if isinstance(key, str) else bytes(key)
    if len(raw) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"{where} is {len(raw)} bytes long; a signing key needs at least {MIN_KEY_BYTES} "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return raw


class Signer:
    """HMAC-SHA256 signatures over bytes for one ``purpose`` ("cache" or "queue"), verified
    in constant time."""

    digest_size = 32

    def __init__(self, key: str | bytes, *, purpose: str) -> None:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown signing purpose {purpose!r}; known: {', '.join(sorted(PURPOSES))}")
        # one key per purpose, derived once: the per-value cost stays one HMAC
        self._key = hmac.new(signing_key(key), b"freight-sign:" + purpose.encode(), hashlib.sha256).digest()
        self.purpose = purpose

    def signature(self, data: bytes) -> bytes:
        """The raw 32-byte signature of ``data``."""
        return hmac.new(self._key, data, hashlib.sha256).digest()

    def sign(self, data: bytes) -> bytes:
        """``signature + data``."""
        return self.signature(data) + data

    def unsign(self, signed: bytes) -> bytes:
        """The data inside ``signed``; :class:`SignatureError` if the signature does not match."""
        sig, data = signed[: self.digest_size], signed[self.digest_size :]
        if len(sig) != self.digest_size or not hmac.compare_digest(sig, self.signature(data)):
            raise SignatureError("signature mismatch: the value was tampered with or signed with another key")
        return data


class SignedCodec:
    """Wraps a codec so every value is signed; integers stay raw digits for native increments."""

    MARK = b"$"

    def __init__(self, inner: Codec, key: str | bytes) -> None:
        self.inner = inner
        self.signer = Signer(key, purpose="cache")
        self.name = f"signed-{inner.name}"

    def dumps(self, value: Any) -> bytes:
        """Encode and sign ``value`` (integers are stored as plain digits)."""
        if type(value) is int:
            return _digits(value)
        return self.MARK + self.signer.sign(self.inner.dumps(value))

    def loads(self, data: bytes) -> Any:
        """Verify and decode ``data``; :class:`SignatureError` when the signature does not match."""
        if data[:1] != self.MARK:
            try:
                return int(data)
            except ValueError:
                raise SignatureError("value is neither signed nor an integer") from None
        return self.inner.loads(self.signer.unsign(bytes(data[1:])))


def make_codec(serializer: str = "json", key: str | bytes | None = None) -> Codec:
    """Build the codec a store or connection asked for: ``"json"`` (optionally signed) or
    ``"pickle"`` (which requires a ``key``)."""
    if serializer == "json":
        return SignedCodec(JsonCodec(), key) if key is not None else JsonCodec()
    if serializer == "pickle":
        if key is None:
            raise ConfigurationError(
                "serializer 'pickle' requires a 'key' to sign values with; "
                "unsigned pickle would let anyone who can write to the store run code"
            )
        return SignedCodec(_PickleCodec(), key)
    raise ConfigurationError(f"unknown serializer {serializer!r}; known serializers: json, pickle")
