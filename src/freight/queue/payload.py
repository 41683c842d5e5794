"""The wire payload of a queued job: build, encode (optionally signed), decode, resolve.

A payload is a JSON object::

    {"uuid": "...", "job": "module:QualName", "data": {...},
     "max_tries": 3, "backoff": [1, 5, 30] | 5 | null, "timeout": 60,
     "retry_until": 1735689600.0 | null, "queue": "emails", "created_at": 1735680000.0}

Attempts are not in the payload: the driver counts reservations (``ReservedJob.attempts``).
``data`` uses the JSON codec's tagged types, so datetimes, Decimals, UUIDs... survive.
With a connection ``key`` the JSON is prefixed by an HMAC-SHA256 signature
(``sig:<hex>:<json>``) and a worker holding the key refuses anything unsigned or tampered.
"""

from __future__ import annotations

import hmac
import importlib
import math
import os
import sys
from dataclasses import dataclass
from typing import Any

from freight.errors import JobImportError, PayloadError, SerializationError
from freight.queue.backoff import MAX_DELAY
from freight.queue.job import Job
from freight.serialization import Signer, decode_tagged_json, encode_json, to_jsonable

__all__ = [
    "MAX_TIMEOUT",
    "MAX_TRIES",
    "Options",
    "build",
    "dumps",
    "job_path",
    "loads",
    "options",
    "resolve_job_class",
]

#: the most tries a payload may ask for (the attempts column is a 32-bit integer)
MAX_TRIES = 2**31 - 2
#: the longest timeout a payload may ask for, in seconds (a year; the OS timer overflows further out)
MAX_TIMEOUT = 366 * 86400.0

_SIG_PREFIX = "sig:"
#: speed: "module:QualName" per job class, formatted once instead of on every push
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


def is_job(raw: str, job_id: str) -> bool:
    """True when the encoded payload ``raw`` is the job ``job_id`` itself (its uuid comes first),
    not a job that merely mentions that id (such as an earlier step of its chain)."""
    if raw.startswith(_SIG_PREFIX):
        raw = raw[len(_SIG_PREFIX) :].partition(":")[2]
    return raw.startswith(f'{{"uuid":"{job_id}"')


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


@dataclass(frozen=True, slots=True)
class Options:
    """The run options a payload carries, checked (None: the worker's default applies)."""

    max_tries: int | None
    timeout: float | None
    retry_until: float | None
    backoff: float | list[float] | None


def _seconds(value: Any, field: str, top: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= top:
        raise PayloadError(f"payload field {field!r} must be seconds from 0 to {top:g}, got {value!r}")
    return float(value)


def options(payload: dict[str, Any]) -> Options:
    """The checked run options of a decoded payload; :class:`PayloadError` for any value out
    of range (``max_tries: 1e400``, a backoff of ``1e20``, a string...), so a job can never
    park forever or crash the worker through its options."""
    tries = payload.get("max_tries")
    if tries is not None and (
        isinstance(tries, bool) or not isinstance(tries, int) or not 0 <= tries <= MAX_TRIES
    ):
        raise PayloadError(
            f"payload field 'max_tries' must be an integer from 0 to {MAX_TRIES}, got {tries!r}"
        )
    timeout = payload.get("timeout")
    until = payload.get("retry_until")
    if until is not None and (
        isinstance(until, bool) or not isinstance(until, int | float) or not math.isfinite(until)
    ):
        raise PayloadError(f"payload field 'retry_until' must be a Unix time, got {until!r}")
    backoff = payload.get("backoff")
    policy: float | list[float] | None = None
    if isinstance(backoff, list):
        policy = [_seconds(v, "backoff", MAX_DELAY) for v in backoff]
    elif backoff is not None:
        policy = _seconds(backoff, "backoff", MAX_DELAY)
    return Options(
        tries,
        None if timeout is None else _seconds(timeout, "timeout", MAX_TIMEOUT),
        None if until is None else float(until),
        policy,
    )


def _refused(module_name: str) -> bool:
    """True for module names a payload may not make a worker import: not dotted identifiers,
    or a ``__main__`` (``freight.__main__`` would start a nested worker)."""
    parts = module_name.split(".")
    return not all(p.isidentifier() for p in parts) or any(p.startswith("__") for p in parts)


def resolve_job_class(path: str) -> type[Job]:
    """Import the ``module:QualName`` a payload names, refusing anything that is not a Job.

    Only the named module is imported; nothing is called. Whatever the import raises
    (``SystemExit`` and other ``BaseException`` included) becomes :class:`JobImportError`,
    so a broken module can never stop the worker. A name that resolves to something other
    than a :class:`~freight.queue.job.Job` subclass, or a ``__main__`` module, raises
    :class:`PayloadError`.
    """
    module_name, sep, qualname = path.partition(":")
    if not sep or not module_name or not qualname:
        raise PayloadError(f"job name {path!r} is not of the form 'module:QualName'")
    if _refused(module_name):
        raise PayloadError(f"{path!r} is not a freight Job subclass; refusing to import {module_name!r}")
    module = sys.modules.get(module_name)
    if module is None:
        try:
            module = importlib.import_module(module_name)
        except BaseException as exc:  # noqa: BLE001 - SystemExit in a job module must not stop the worker
            raise JobImportError(f"cannot import job module {module_name!r}: {exc!r}", module_name) from exc
    obj: Any = module
    for part in qualname.split("."):
        if not part.isidentifier() or part.startswith("__"):
            raise PayloadError(f"{path!r} is not a freight Job subclass; refusing to run it")
        obj = getattr(obj, part, None)
        if obj is None:
            raise PayloadError(f"job class {path!r} does not exist")
    if not (isinstance(obj, type) and issubclass(obj, Job)):
        raise PayloadError(f"{path!r} is not a freight Job subclass; refusing to run it")
    return obj
