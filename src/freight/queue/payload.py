"""The wire payload of a queued job: build, encode (optionally signed), decode, resolve.

A payload is a JSON object::

    {"uuid": "...", "job": "module:QualName", "data": {...}, "attempts": 0,
     "max_tries": 3, "backoff": [1, 5, 30] | 5 | null, "timeout": 60,
     "retry_until": 1735689600.0 | null, "queue": "emails", "created_at": 1735680000.0}

``data`` uses the JSON codec's tagged types, so datetimes, Decimals, UUIDs... survive.
With a connection ``key`` the JSON is prefixed by an HMAC-SHA256 signature
(``sig:<hex>:<json>``) and a worker holding the key refuses anything unsigned or tampered.
"""

from __future__ import annotations

import hmac
import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

from freight.errors import PayloadError, SerializationError
from freight.serialization import Signer, decode_tagged_json, encode_json, to_jsonable

if TYPE_CHECKING:
    from freight.queue.job import Job

__all__ = ["build", "dumps", "job_path", "loads", "resolve_job_class"]

_SIG_PREFIX = "sig:"
_PATHS: dict[type, str] = {}
REQUIRED = ("uuid", "job", "data")


def job_path(cls: type) -> str:
    """``module:QualName`` for a job class."""
    return f"{cls.__module__}:{cls.__qualname__}"


def build(job: Job, queue: str, now: float) -> dict[str, Any]:
    """The payload dict for ``job`` pushed on ``queue`` at ``now``."""
    backoff = job.backoff
    if isinstance(backoff, tuple):
        backoff = list(backoff)
    elif not isinstance(backoff, int | float | list):
        backoff = None  # a callable: the worker asks the job class
    cls = type(job)
    path = _PATHS.get(cls)
    if path is None:
        path = _PATHS[cls] = job_path(cls)
    payload = {
        "uuid": os.urandom(16).hex(),
        "job": path,
        "data": job.get_data(),
        "attempts": 0,
        "max_tries": job.tries,
        "backoff": backoff,
        "timeout": job.timeout,
        "retry_until": None if job.retry_until is None else job.retry_until_timestamp(now),
        "queue": queue,
        "created_at": now,
    }
    extra = job.extra_payload
    if extra:  # chains, batches, unique locks: plain jobs skip this
        payload.update(extra)
    return payload


def dumps(payload: dict[str, Any], signer: Signer | None = None) -> str:
    """Encode a payload as JSON text, signed when ``signer`` is given; :class:`PayloadError`
    (naming the job class) when its data cannot be encoded."""
    try:
        # only ``data`` can hold values JSON cannot express; the other fields are plain
        data = payload["data"]
        plain = to_jsonable(data)
        text = encode_json(payload if plain is data else {**payload, "data": plain})
    except (SerializationError, TypeError, ValueError, RecursionError) as exc:
        raise PayloadError(f"cannot encode the data of job {payload.get('job')!r}: {exc}") from exc
    if signer is None:
        return text
    return f"{_SIG_PREFIX}{signer.signature(text.encode()).hex()}:{text}"


def loads(raw: str | bytes, signer: Signer | None = None) -> dict[str, Any]:
    """Decode and check a payload; :class:`PayloadError` for anything malformed or unsigned."""
    try:
        text = raw.decode() if isinstance(raw, bytes | bytearray) else raw
    except UnicodeDecodeError as exc:
        raise PayloadError(f"payload is not UTF-8: {exc}") from exc
    if text.startswith(_SIG_PREFIX):
        sig, sep, text = text[len(_SIG_PREFIX) :].partition(":")
        if not sep:
            raise PayloadError("signed payload is malformed")
        if signer is None:
            raise PayloadError("payload is signed but this connection has no 'key' to verify it")
        try:
            expected = bytes.fromhex(sig)
        except ValueError:
            raise PayloadError("payload signature is not hex") from None
        if not hmac.compare_digest(expected, signer.signature(text.encode())):
            raise PayloadError("payload signature does not match: tampered or signed with another key")
    elif signer is not None:
        raise PayloadError("payload is not signed but this connection requires signed payloads")
    try:
        payload = decode_tagged_json(text)
    except Exception as exc:
        raise PayloadError(f"payload is not valid JSON: {exc!r}") from exc
    if not isinstance(payload, dict):
        raise PayloadError(f"payload must be a JSON object, got {type(payload).__name__}")
    missing = [k for k in REQUIRED if k not in payload]
    if missing:
        raise PayloadError(f"payload lacks required field(s): {', '.join(missing)}")
    if not isinstance(payload["job"], str) or not isinstance(payload["data"], dict):
        raise PayloadError("payload 'job' must be a string and 'data' an object")
    return payload


def resolve_job_class(path: str) -> type[Job]:
    """Import the ``module:QualName`` a payload names, refusing anything that is not a Job.

    Only the named module is imported; nothing is called. A name that resolves to
    something other than a :class:`~freight.queue.job.Job` subclass raises
    :class:`PayloadError`.
    """
    from freight.queue.job import Job

    module_name, sep, qualname = path.partition(":")
    if not sep or not module_name or not qualname:
        raise PayloadError(f"job name {path!r} is not of the form 'module:QualName'")
    try:
        module = sys.modules.get(module_name) or importlib.import_module(module_name)
    except Exception as exc:
        raise PayloadError(f"cannot import job module {module_name!r}: {exc!r}") from exc
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise PayloadError(f"job class {path!r} does not exist")
    if not (isinstance(obj, type) and issubclass(obj, Job)):
        raise PayloadError(f"{path!r} is not a freight Job subclass; refusing to run it")
    return obj
