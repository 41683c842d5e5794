"""Every exception freight raises, in one tree.

::

    FreightError
    ├── ConfigurationError            bad or missing configuration, unknown driver/store
    │   └── MissingDependencyError    a driver's client library is not installed
    ├── CacheError                    a cache operation failed
    │   ├── CacheConnectionError      the cache server could not be reached
    │   ├── LockTimeoutError          Lock.block() waited longer than allowed
    │   └── InvalidKeyError           a key that is not a string
    ├── QueueError                    a queue operation failed
    │   ├── QueueConnectionError      the queue backend could not be reached
    │   ├── PayloadError              a job payload could not be encoded or decoded
    │   ├── JobImportError            the module a job names cannot be imported in this worker
    │   ├── JobTimeoutError           a job ran longer than its timeout
    │   └── MaxAttemptsExceededError  a job was attempted more times than allowed
    └── SerializationError            a value the codec cannot encode or decode

A driver translates its client library's exceptions at its boundary with
``raise ... from exc``, so the original error stays available as ``__cause__``.
"""

from __future__ import annotations

__all__ = [
    "CACHE_ERRORS",
    "QUEUE_ERRORS",
    "ErrorKinds",
    "CacheConnectionError",
    "CacheError",
    "ConfigurationError",
    "FreightError",
    "InvalidKeyError",
    "JobImportError",
    "JobTimeoutError",
    "LockTimeoutError",
    "MaxAttemptsExceededError",
    "MissingDependencyError",
    "PayloadError",
    "QueueConnectionError",
    "QueueError",
    "SerializationError",
]


class FreightError(Exception):
    """Base class of every error raised by freight."""


class ConfigurationError(FreightError):
    """The configuration is invalid, or names an unknown driver or store."""


class MissingDependencyError(ConfigurationError):
    """A driver needs a client library that is not installed."""

    def __init__(self, package: str, extra: str, driver: str | None = None) -> None:
        what = f"the {driver!r} driver" if driver else "this feature"
        super().__init__(
            f"{what} needs the {package!r} package, which is not installed; "
            f'install it with: pip install "freight[{extra}]"{_local_install_hint(extra)}'
        )
        self.package = package
        self.extra = extra


def _local_install_hint(extra: str) -> str:
    """How to add ``extra`` when freight was installed from a directory or a URL rather than
    a package index (PEP 610's ``direct_url.json``): there, ``freight[extra]`` names nothing."""
    import json
    from importlib import metadata

    try:
        info = json.loads(metadata.distribution("freight").read_text("direct_url.json") or "null")
        url = str(info["url"])
    except Exception:  # installed from an index, or not installed (a source checkout)
        return ""
    if url.startswith("file://"):
        editable = "-e " if info.get("dir_info", {}).get("editable") else ""
        return f'; freight was installed from {url[7:]}, so there: pip install {editable}"{url[7:]}[{extra}]"'
    vcs = info.get("vcs_info", {}).get("vcs")
    source = f"{vcs}+{url}" if vcs else url
    return f'; freight was installed from {url}, so: pip install "freight[{extra}] @ {source}"'


class CacheError(FreightError):
    """A cache operation failed."""


class CacheConnectionError(CacheError):
    """A cache store's server could not be reached."""


class LockTimeoutError(CacheError):
    """A lock could not be acquired within the time allowed."""


class InvalidKeyError(CacheError, TypeError):
    """A cache key is not a string."""


class QueueError(FreightError):
    """A queue operation failed."""


class QueueConnectionError(QueueError):
    """A queue connection's backend could not be reached."""


class PayloadError(QueueError):
    """A job payload could not be encoded, decoded or trusted."""


class JobImportError(QueueError):
    """The module a job names cannot be imported in this worker (wrong directory, a broken
    deploy, or a module that raises while it loads); the job is retried with its backoff."""

    def __init__(self, message: str, module: str = "") -> None:
        super().__init__(message)
        self.module = module


class JobTimeoutError(QueueError):
    """A job ran longer than its timeout."""


class MaxAttemptsExceededError(QueueError):
    """A job was attempted more times than it allows."""


class SerializationError(FreightError, ValueError):
    """A value could not be encoded or decoded by the configured codec."""


class ErrorKinds:
    """The pair of freight errors a layer raises for a backend failure: ``unreachable`` when the
    server cannot be reached (failover and the worker's reconnect act on it), ``error`` otherwise."""

    __slots__ = ("error", "unreachable")

    def __init__(self, error: type[FreightError], unreachable: type[FreightError]) -> None:
        self.error = error
        self.unreachable = unreachable


#: what cache stores raise
CACHE_ERRORS = ErrorKinds(CacheError, CacheConnectionError)
#: what queue drivers and failed-job stores raise
QUEUE_ERRORS = ErrorKinds(QueueError, QueueConnectionError)
