"""CacheManager: named cache stores resolved lazily from configuration.

Each store module exposes ``create(config, manager) -> Store``; the manager wraps the
store in a :class:`~freight.cache.repository.Repository` with the codec the store
asked for (``serializer``, ``key``) and memoises it by name. Built-in drivers are
registered by import path, so no client library is imported before a store that
needs it is used. Every Repository method is also available on the manager itself,
where it acts on the default store.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from freight.cache.async_repository import Builder
from freight.cache.events import CacheEvent, Listener
from freight.cache.flight import DEFAULT_LOCK_WAIT
from freight.cache.funnel import Funnel
from freight.cache.limiter import RateLimiter
from freight.cache.lock import Lock
from freight.cache.repository import Repository, Tags
from freight.cache.stores.base import Clock, Store
from freight.cache.views import Namespace, TaggedCache
from freight.errors import ConfigurationError
from freight.manager import DriverFactory, Manager, import_object, lazy
from freight.serialization import make_codec
from freight.timeutil import Duration

__all__ = ["BUILTIN_DRIVERS", "CacheManager", "StoreFactory"]

R = TypeVar("R")

#: ``factory(config, manager)`` returning a Store (wrapped for you) or a ready Repository
StoreFactory = Callable[[dict[str, Any], Any], "Store | Repository"]

#: driver name -> ``module:create`` of the built-in store modules
BUILTIN_DRIVERS: dict[str, str] = {
    name: f"freight.cache.stores.{name}:create"
    for name in ("array", "file", "null", "failover", "redis", "memcached", "database")
}


class CacheManager(Manager[Repository]):
    """Resolves cache stores by name; forwards the Repository API to the default store."""

    kind = "store"
    items_key = "stores"

    def __init__(self, config: Mapping[str, Any] | None = None, *, clock: Clock = time.time) -> None:
        #: the clock every store and repository of this manager keeps time with
        self.clock = clock
        self._listeners: list[Listener] = []
        self._default: Repository | None = None
        if config is None:
            from freight.config import DEFAULTS

            config = copy.deepcopy(DEFAULTS["cache"])
        super().__init__(config)

    # -- registry -----------------------------------------------------------------------
    def builtin_drivers(self) -> Mapping[str, DriverFactory[Repository] | str]:
        """The built-in drivers, each imported on first use."""
        return {driver: self._wrap(lazy(path)) for driver, path in BUILTIN_DRIVERS.items()}

    def extend(self, driver: str, factory: StoreFactory | str, *, keys: Iterable[str] | None = None) -> None:
        """Register a custom driver: ``factory(config, manager)`` returns a Store (or a Repository);
        a string is imported as ``module:attr``; ``keys`` declares its configuration keys."""
        resolved = import_object(factory) if isinstance(factory, str) else factory
        if not callable(resolved):
            raise ConfigurationError(f"the factory for driver {driver!r} is not callable")
        declared = keys if keys is not None else getattr(resolved, "config_keys", None)
        super().extend(driver, self._wrap(resolved), keys=declared)
        self._default = None

    def purge(self, name: str | None = None) -> None:
        """Close and forget the store ``name`` (every store when None); it is rebuilt on next use."""
        super().purge(name)
        self._default = None

    def prepare_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Give a store without its own ``prefix`` (or ``version``) the manager's global one."""
        if config.get("prefix") is None:
            config["prefix"] = str(self.config.get("prefix") or "")
        if config.get("version") is None:
            config["version"] = self.config.get("version", 1)
        return config

    def _wrap(self, factory: StoreFactory) -> DriverFactory[Repository]:
        def build(config: dict[str, Any], manager: Any) -> Repository:
            made = factory(config, manager)
            if isinstance(made, Repository):
                repository = made
                for listener in self._listeners:
                    repository.listen(listener)
                return repository
            if not isinstance(made, Store):
                raise ConfigurationError(
                    f"the factory of store {config.get('name')!r} returned {made!r}, not a Store"
                )
            codec = make_codec(str(config.get("serializer") or "json"), config.get("key"))
            return Repository(made, codec, clock=self.clock, listeners=self._listeners)

        return build

    # -- stores -------------------------------------------------------------------------
    def store(self, name: str | None = None) -> Repository:
        """The repository of the store ``name`` (default: the default store), created once."""
        if name is None:  # speed: the default store skips resolve()'s name lookup and lock check
            default = self._default
            if default is None:
                default = self._default = self.resolve(None)
            return default
        return self.resolve(name)

    def listen(self, listener: Listener) -> None:
        """Call ``listener`` with every event of every store of this manager."""
        with self._lock:
            self._listeners.append(listener)
            for repository in self._resolved.values():
                repository.listen(listener)

    def dispatch(self, event: CacheEvent) -> None:
        """Deliver ``event`` to the manager's listeners (used by stores such as failover)."""
        for listener in self._listeners:
            listener(event)

    # -- the Repository API on the default store ----------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        """See :meth:`Repository.get`."""
        return self.store().get(key, default)

    def many(self, keys: Iterable[str], default: Any = None) -> dict[str, Any]:
        """See :meth:`Repository.many`."""
        return self.store().many(keys, default)

    def has(self, key: str) -> bool:
        """See :meth:`Repository.has`."""
        return self.store().has(key)

    def missing(self, key: str) -> bool:
        """See :meth:`Repository.missing`."""
        return self.store().missing(key)

    def pull(self, key: str, default: Any = None) -> Any:
        """See :meth:`Repository.pull`."""
        return self.store().pull(key, default)

    def put(self, key: str, value: Any, ttl: Duration | None = None, *, tags: Tags = None) -> bool:
        """See :meth:`Repository.put`."""
        return self.store().put(key, value, ttl, tags=tags)

    def put_many(self, values: Mapping[str, Any], ttl: Duration | None = None, *, tags: Tags = None) -> bool:
        """See :meth:`Repository.put_many`."""
        return self.store().put_many(values, ttl, tags=tags)

    def add(self, key: str, value: Any, ttl: Duration | None = None, *, tags: Tags = None) -> bool:
        """See :meth:`Repository.add`."""
        return self.store().add(key, value, ttl, tags=tags)

    def forever(self, key: str, value: Any, *, tags: Tags = None) -> bool:
        """See :meth:`Repository.forever`."""
        return self.store().forever(key, value, tags=tags)

    def forget(self, key: str) -> bool:
        """See :meth:`Repository.forget`."""
        return self.store().forget(key)

    def increment(self, key: str, by: int = 1, *, tags: Tags = None) -> int:
        """See :meth:`Repository.increment`."""
        return self.store().increment(key, by, tags=tags)

    def decrement(self, key: str, by: int = 1) -> int:
        """See :meth:`Repository.decrement`."""
        return self.store().decrement(key, by)

    def remember(
        self,
        key: str,
        ttl: Duration | None,
        fn: Callable[[], R],
        tags: Tags = None,
        lock: bool = True,
        lock_wait: float = DEFAULT_LOCK_WAIT,
        beta: float = 0.0,
    ) -> R:
        """See :meth:`Repository.remember`."""
        return self.store().remember(key, ttl, fn, tags=tags, lock=lock, lock_wait=lock_wait, beta=beta)

    def remember_forever(self, key: str, fn: Callable[[], R], **options: Any) -> R:
        """See :meth:`Repository.remember_forever`."""
        return self.store().remember_forever(key, fn, **options)

    def flexible(
        self,
        key: str,
        ttl: tuple[Duration, Duration],
        fn: Callable[[], R],
        *,
        tags: Tags = None,
        defer: str = "thread",
        lock_wait: float = DEFAULT_LOCK_WAIT,
    ) -> R:
        """See :meth:`Repository.flexible`."""
        return self.store().flexible(key, ttl, fn, tags=tags, defer=defer, lock_wait=lock_wait)

    def refresh(
        self, key: str, ttl: tuple[Duration, Duration], fn: Callable[[], Any], *, tags: Tags = None
    ) -> None:
        """See :meth:`Repository.refresh`."""
        self.store().refresh(key, ttl, fn, tags=tags)

    def tags(self, *names: str) -> TaggedCache:
        """See :meth:`Repository.tags`."""
        return self.store().tags(*names)

    def flush_tags(self, *names: str) -> int:
        """See :meth:`Repository.flush_tags`."""
        return self.store().flush_tags(*names)

    def namespace(self, name: str) -> Namespace:
        """See :meth:`Repository.namespace`."""
        return self.store().namespace(name)

    def touch(self, key: str, ttl: Duration | None) -> bool:
        """See :meth:`Repository.touch`."""
        return self.store().touch(key, ttl)

    def flush(self) -> bool:
        """See :meth:`Repository.flush`."""
        return self.store().flush()

    def prune(self) -> int:
        """See :meth:`Repository.prune`."""
        return self.store().prune()

    def lock(self, name: str, seconds: float = 0, owner: str | None = None) -> Lock:
        """See :meth:`Repository.lock`."""
        return self.store().lock(name, seconds, owner)

    def restore_lock(self, name: str, owner: str) -> Lock:
        """See :meth:`Repository.restore_lock`."""
        return self.store().restore_lock(name, owner)

    def limiter(self) -> RateLimiter:
        """See :meth:`Repository.limiter`."""
        return self.store().limiter()

    def funnel(self, name: str, limit: int, block: float = 0, release_after: float = 60) -> Funnel:
        """See :meth:`Repository.funnel`."""
        return self.store().funnel(name, limit, block, release_after)

    def stats(self) -> dict[str, int]:
        """See :meth:`Repository.stats`."""
        return self.store().stats()

    # -- the asyncio API on the default store ---------------------------------------------
    async def aget(self, key: str, default: Any = None) -> Any:
        """See :meth:`Repository.aget`."""
        return await self.store().aget(key, default)

    async def amany(self, keys: Iterable[str], default: Any = None) -> dict[str, Any]:
        """See :meth:`Repository.amany`."""
        return await self.store().amany(keys, default)

    async def ahas(self, key: str) -> bool:
        """See :meth:`Repository.ahas`."""
        return await self.store().ahas(key)

    async def aput(self, key: str, value: Any, ttl: Duration | None = None, **options: Any) -> bool:
        """See :meth:`Repository.aput`."""
        return await self.store().aput(key, value, ttl, **options)

    async def aput_many(self, values: Mapping[str, Any], ttl: Duration | None = None, **options: Any) -> bool:
        """See :meth:`Repository.aput_many`."""
        return await self.store().aput_many(values, ttl, **options)

    async def aadd(self, key: str, value: Any, ttl: Duration | None = None, **options: Any) -> bool:
        """See :meth:`Repository.aadd`."""
        return await self.store().aadd(key, value, ttl, **options)

    async def aforget(self, key: str) -> bool:
        """See :meth:`Repository.aforget`."""
        return await self.store().aforget(key)

    async def aincrement(self, key: str, by: int = 1, **options: Any) -> int:
        """See :meth:`Repository.aincrement`."""
        return await self.store().aincrement(key, by, **options)

    async def adecrement(self, key: str, by: int = 1) -> int:
        """See :meth:`Repository.adecrement`."""
        return await self.store().adecrement(key, by)

    async def aremember(self, key: str, ttl: Duration | None, fn: Builder[R], **options: Any) -> R:
        """See :meth:`Repository.aremember`."""
        return await self.store().aremember(key, ttl, fn, **options)

    async def aflexible(self, key: str, ttl: tuple[Duration, Duration], fn: Builder[R], **options: Any) -> R:
        """See :meth:`Repository.aflexible`."""
        return await self.store().aflexible(key, ttl, fn, **options)

    async def apull(self, key: str, default: Any = None) -> Any:
        """See :meth:`Repository.apull`."""
        return await self.store().apull(key, default)

    async def aforever(self, key: str, value: Any, **options: Any) -> bool:
        """See :meth:`Repository.aforever`."""
        return await self.store().aforever(key, value, **options)

    async def atouch(self, key: str, ttl: Duration | None) -> bool:
        """See :meth:`Repository.atouch`."""
        return await self.store().atouch(key, ttl)

    async def aflush(self) -> bool:
        """See :meth:`Repository.aflush`."""
        return await self.store().aflush()

    async def aremember_forever(self, key: str, fn: Builder[R], **options: Any) -> R:
        """See :meth:`Repository.aremember_forever`."""
        return await self.store().aremember_forever(key, fn, **options)

    def alock(self, name: str, seconds: float = 0, owner: str | None = None) -> Lock:
        """See :meth:`Repository.alock`."""
        return self.store().alock(name, seconds, owner)
