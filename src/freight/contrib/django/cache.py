"""``FreightCache``: a Django cache backend (``django.core.cache``) on any freight store.

``LOCATION`` names the store: a URL (``redis://``, ``rediss://``, ``memcached://host:port``
with more servers comma-separated, ``sqlite:///...``, ``postgresql://...``, ``mysql://...``)
or a directory for the file store. ``OPTIONS`` holds the rest of a freight store config
(lower-case keys such as ``prefix``, ``table``, ``serializer``, ``driver``); Django's own
upper-case options (``MAX_ENTRIES``, ``CULL_FREQUENCY``) are read by Django and not passed
on (freight stores do not cull: their entries expire). ``TIMEOUT``, ``KEY_PREFIX``,
``VERSION`` and ``KEY_FUNCTION`` behave as in Django: ``timeout=0`` expires at once,
``None`` never expires, keys are made by ``make_and_validate_key`` (with Django's
memcached-compatibility warnings), and ``incr`` on a missing key raises ``ValueError``.

Values of any picklable type are stored with freight's signed pickle codec, keyed by a
secret derived from ``settings.SECRET_KEY`` (set ``OPTIONS["key"]`` to use another), so
a value written by someone without the key is a miss, never unpickled.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

from freight.cache.manager import CacheManager
from freight.cache.repository import Repository
from freight.errors import ConfigurationError, SerializationError

__all__ = ["FreightCache", "store_config"]

_MISSING: Any = object()
_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb")


def store_config(location: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The freight store config for a Django ``LOCATION`` and ``OPTIONS``."""
    config: dict[str, Any]
    scheme = location.split("://", 1)[0].split("+", 1)[0].lower() if "://" in location else ""
    if scheme in ("redis", "rediss", "unix"):
        config = {"driver": "redis", "url": location}
    elif scheme == "memcached":
        config = {"driver": "memcached", "servers": location.split("://", 1)[1].split(",")}
    elif scheme in _DATABASE_SCHEMES:
        config = {"driver": "database", "url": location}
    elif scheme:
        raise ConfigurationError(
            f"FreightCache LOCATION {location!r} has an unknown scheme {scheme!r}; use redis://, "
            "memcached://, sqlite:///, postgresql://, mysql:// or a directory for the file store"
        )
    elif location:
        config = {"driver": "file", "path": location}
    else:
        raise ConfigurationError("FreightCache needs a LOCATION: a store URL or a directory")
    config.update({k: v for k, v in options.items() if not k.isupper()})
    return config


def _signing_key() -> str:
    secret = str(getattr(settings, "SECRET_KEY", "") or "")
    if not secret:
        raise ConfigurationError(
            "FreightCache signs pickled values with a key derived from SECRET_KEY; set one"
        )
    return hashlib.sha256(b"freight.contrib.django.cache:" + secret.encode()).hexdigest()


def _pickle_error(exc: BaseException) -> BaseException | None:
    """The PicklingError behind a freight SerializationError, if that is what it was."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, pickle.PickleError):
            return cause
        cause = cause.__cause__
    return None


class FreightCache(BaseCache):
    """A Django cache backed by a freight store (see the module docstring)."""

    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        options = dict(params.get("OPTIONS") or {})
        config = store_config(str(location or ""), options)
        config.setdefault("prefix", "django")  # freight scopes clear() to it
        if config.get("serializer", "pickle") == "pickle":
            config["serializer"] = "pickle"
            config.setdefault("key", _signing_key())
        self._manager = CacheManager({"default": "django", "stores": {"django": config}})
        self._repository: Repository | None = None

    @property
    def repository(self) -> Repository:
        """The freight repository behind this cache (built on first use)."""
        if self._repository is None:
            self._repository = self._manager.store()
        return self._repository

    def _ttl(self, timeout: Any) -> float | None:
        """Seconds for freight from a Django timeout: None never expires, ``<= 0`` at once."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        return None if timeout is None else float(timeout)

    def _write(self, method: Any, key: str, value: Any, ttl: float | None) -> bool:
        try:
            return bool(method(key, value, ttl))
        except SerializationError as exc:
            cause = _pickle_error(exc)
            if cause is not None:
                raise cause from exc
            raise

    # -- the BaseCache API ----------------------------------------------------------------
    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        """Store only if absent (atomic on every store)."""
        ttl = self._ttl(timeout)
        made = self.make_and_validate_key(key, version=version)
        if ttl is not None and ttl <= 0:  # Django: added (and expired at once) when absent
            self._write(lambda k, v, t: self.repository.codec.dumps(v), made, value, ttl)
            return not self.repository.has(made)
        return self._write(self.repository.add, made, value, ttl)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        """The value, or ``default``."""
        return self.repository.get(self.make_and_validate_key(key, version=version), default)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        """Store a value (``timeout=0`` or negative: it expires at once)."""
        self._write(
            self.repository.put, self.make_and_validate_key(key, version=version), value, self._ttl(timeout)
        )

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        """A new timeout for an existing key."""
        return self.repository.touch(self.make_and_validate_key(key, version=version), self._ttl(timeout))

    def delete(self, key: Any, version: int | None = None) -> bool:
        """Remove a key; True if it existed."""
        return self.repository.forget(self.make_and_validate_key(key, version=version))

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        """The found keys and their values (one round trip where the store allows)."""
        made = {self.make_and_validate_key(key, version=version): key for key in keys}
        found = self.repository.many(list(made), default=_MISSING)
        return {made[k]: v for k, v in found.items() if v is not _MISSING}

    def set_many(
        self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        """Store every item; returns the keys that failed (none)."""
        if not data:
            return []
        values = {self.make_and_validate_key(key, version=version): value for key, value in data.items()}
        try:
            self.repository.put_many(values, self._ttl(timeout))
        except SerializationError as exc:
            cause = _pickle_error(exc)
            if cause is not None:
                raise cause from exc
            raise
        return []

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        """Remove every key."""
        for key in keys:
            self.repository.forget(self.make_and_validate_key(key, version=version))

    def has_key(self, key: Any, version: int | None = None) -> bool:
        """True when the key holds a value."""
        return self.repository.has(self.make_and_validate_key(key, version=version))

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        """Add ``delta`` atomically; ``ValueError`` when the key is missing, ``TypeError`` when its
        value is not an integer."""
        made = self.make_and_validate_key(key, version=version)
        current = self.repository.get(made, _MISSING)
        if current is _MISSING:
            raise ValueError(f"Key '{key}' not found")
        if isinstance(current, bool) or not isinstance(current, int):
            raise TypeError(f"Key '{key}' holds a {type(current).__name__}, not an integer")
        return self.repository.increment(made, int(delta))

    def clear(self) -> None:
        """Remove every entry under this store's freight prefix."""
        self.repository.flush()

    def close(self, **kwargs: Any) -> None:
        """Nothing to do per request: freight keeps its connection pools."""
