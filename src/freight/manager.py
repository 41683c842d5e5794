"""The one driver registry mechanism: :class:`Registry`, and :class:`Manager` resolving names through it.

A *driver* is a factory ``factory(config, manager) -> instance``, registered under a
name, or an import path (``"package.module:create"``) imported on first use
(:func:`lazy`), so built-in drivers cost no import until used. ``CacheManager`` and
``QueueManager`` subclass :class:`Manager`: a *name* is an entry of the manager's
``items`` mapping (a cache store or a queue connection) whose ``driver`` key picks the
factory. The failed-job store, a single configured object, uses a :class:`Registry`
directly (``freight.queue.failed``).
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from freight.config_keys import CONNECTION_COMMON, STORE_COMMON, check_keys
from freight.errors import ConfigurationError

__all__ = ["DriverFactory", "Manager", "Registry", "clock_of", "import_object", "lazy"]

T = TypeVar("T")
DriverFactory = Callable[[dict[str, Any], Any], T]


def import_object(path: str) -> Any:
    """Import ``"package.module:attr"`` (or ``"package.module.attr"``) and return the attribute."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ConfigurationError(f"{path!r} is not an import path of the form 'module:attr'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"cannot import module {module_name!r} for {path!r}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise ConfigurationError(f"module {module_name!r} has no attribute {attr!r}") from exc
    return obj


def clock_of(config: Mapping[str, Any], manager: Any) -> Callable[[], float]:
    """The one way a driver factory finds its clock: ``config['clock']`` (a test may inject one;
    the QueueManager fills it in for custom factories), else the manager's ``clock``, else
    :func:`time.time`."""
    clock: Callable[[], float] = config.get("clock") or getattr(manager, "clock", None) or time.time
    return clock


def lazy(path: str) -> DriverFactory[Any]:
    """A factory that imports ``path`` (``module:create``) when first called, then calls it."""

    def factory(config: dict[str, Any], manager: Any) -> Any:
        return import_object(path)(config, manager)

    factory.__qualname__ = f"lazy({path})"
    return factory


class Registry(Generic[T]):
    """Driver name -> factory; ``factory(driver)`` explains an unknown name by listing the known ones."""

    def __init__(self, kind: str, builtin: Mapping[str, DriverFactory[T] | str] | None = None) -> None:
        #: what the instances are called in messages ("store driver", "connection driver")
        self.kind = kind
        self._factories: dict[str, DriverFactory[T]] = {}
        for driver, factory in (builtin or {}).items():
            self._factories[driver] = lazy(factory) if isinstance(factory, str) else factory

    def register(self, driver: str, factory: DriverFactory[T] | str) -> None:
        """Add or replace ``driver``; a string is imported now as ``module:attr``."""
        resolved: DriverFactory[T] = import_object(factory) if isinstance(factory, str) else factory
        if not callable(resolved):
            raise ConfigurationError(f"the factory for driver {driver!r} is not callable")
        self._factories[driver] = resolved

    def factory(self, driver: str, where: str = "") -> DriverFactory[T]:
        """The factory of ``driver``; :class:`ConfigurationError` naming the known drivers if none."""
        found = self._factories.get(driver)
        if found is None:
            raise ConfigurationError(
                f"{where}unknown {self.kind} {driver!r}; known drivers: {', '.join(self.names())}"
            )
        return found

    def names(self) -> list[str]:
        """The registered driver names, sorted."""
        return sorted(self._factories)


class Manager(Generic[T]):
    """Resolves named instances from configuration through a registry of driver factories."""

    #: what the named items are called in messages ("store", "connection")
    kind = "item"
    #: the configuration key holding the named items ("stores", "connections")
    items_key = "items"

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.config: dict[str, Any] = dict(config or {})
        #: the drivers this manager can build (built-ins, then ``extend()``)
        self.registry: Registry[T] = Registry("driver", self.builtin_drivers())
        self._resolved: dict[str, T] = {}
        #: configuration keys declared by drivers added with ``extend(..., keys=...)``
        self._declared: dict[str, set[str]] = {}
        self._lock = threading.RLock()

    # -- registry -----------------------------------------------------------------
    def builtin_drivers(self) -> Mapping[str, DriverFactory[T] | str]:
        """The factories (or ``module:create`` paths, imported on first use) known without ``extend()``."""
        return {}

    def extend(
        self, driver: str, factory: DriverFactory[T] | str, *, keys: Iterable[str] | None = None
    ) -> None:
        """Register (or replace) the factory for ``driver``; a string is imported as ``module:attr``.

        ``keys`` (or a ``config_keys`` attribute of the factory) declares the configuration keys
        the driver takes besides the common ones: any other key is then refused when a store or
        connection of this driver is built."""
        with self._lock:
            self.registry.register(driver, factory)
            declared = keys if keys is not None else getattr(factory, "config_keys", None)
            if declared is not None:
                self._declared[driver] = set(declared)
            else:
                self._declared.pop(driver, None)
            for name in [n for n in self._resolved if self._driver_of(n) == driver]:
                self._resolved.pop(name, None)

    def drivers(self) -> list[str]:
        """The names of every registered driver, sorted."""
        return self.registry.names()

    # -- named items --------------------------------------------------------------
    @property
    def items(self) -> dict[str, Any]:
        """The configured named items (stores or connections)."""
        items = self.config.get(self.items_key) or {}
        if not isinstance(items, Mapping):
            raise ConfigurationError(f"{self.items_key!r} must be a table of {self.kind}s")
        return dict(items)

    def names(self) -> list[str]:
        """The configured names, sorted."""
        return sorted(self.items)

    def default_name(self) -> str:
        """The name used when none is given."""
        default = self.config.get("default")
        if not default:
            raise ConfigurationError(f"no default {self.kind} is configured (set 'default')")
        return str(default)

    def item_config(self, name: str) -> dict[str, Any]:
        """The configuration of one named item, with its name filled in."""
        items = self.items
        if name not in items:
            known = ", ".join(sorted(items)) or "none"
            raise ConfigurationError(
                f"{self.kind} {name!r} is not configured; configured {self.kind}s: {known}"
            )
        config = items[name]
        if not isinstance(config, Mapping):
            raise ConfigurationError(f"{self.kind} {name!r} must be a table, got {config!r}")
        return {**dict(config), "name": name}

    def resolve(self, name: str | None = None) -> T:
        """Return the instance for ``name`` (default: the default), creating it once."""
        name = name or self.default_name()
        instance = self._resolved.get(name)
        if instance is not None:
            return instance
        with self._lock:
            instance = self._resolved.get(name)
            if instance is None:
                instance = self._create(name)
                self._resolved[name] = instance
            return instance

    def resolved(self) -> dict[str, T]:
        """The instances created so far, by name (none is created)."""
        with self._lock:
            return dict(self._resolved)

    def purge(self, name: str | None = None) -> None:
        """Close and forget the instance for ``name`` (every one when None); it is rebuilt on next use."""
        with self._lock:
            for n in [name] if name else list(self._resolved):
                instance = self._resolved.pop(n, None)
                close = getattr(instance, "close", None)
                if callable(close):
                    close()

    def _driver_of(self, name: str) -> str | None:
        config = self.items.get(name)
        return config.get("driver") if isinstance(config, Mapping) else None

    def _create(self, name: str) -> T:
        config = self.item_config(name)
        driver = config.get("driver")
        if not isinstance(driver, str) or not driver:
            raise ConfigurationError(f"{self.kind} {name!r} has no 'driver' key")
        factory = self.registry.factory(driver, f"{self.kind} {name!r} uses an ")
        declared = self._declared.get(driver)
        if declared is not None:
            common = STORE_COMMON if self.kind == "store" else CONNECTION_COMMON
            where = f"{self.items_key}.{name}"
            check_keys(config, common | declared, where, f"the {driver!r} {self.kind} driver")
        return self.adopt(factory(self.prepare_config(config), self))

    def prepare_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Hook for subclasses to fill in shared settings before a factory sees the config."""
        return config

    def adopt(self, instance: T) -> T:
        """Hook for subclasses to wire a freshly built instance to the manager; returns it."""
        return instance
