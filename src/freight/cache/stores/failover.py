"""The failover store: tries a list of stores in order, moving on when one is unreachable.

Config: ``{"driver": "failover", "stores": ["redis", "file"]}``. The named stores are
resolved through the manager (each keeps its own prefix and settings; the failover
store's own ``serializer``/``key`` decide the codec). Every operation goes to the
first store that answers; only :class:`~freight.errors.CacheConnectionError` moves on
to the next store, any other error propagates at once. A store that starts failing
is logged once (a warning) and again when it recovers, not on every call; listeners
receive one :class:`~freight.cache.events.CacheFailedOver` per failing streak. When
every store fails, the last error is raised.

Circuit breaker: a store that failed is skipped (its circuit is open) for ``cooldown``
seconds (default 5; 0 tries it on every call), so a dead primary costs nothing per call
instead of a connection timeout. Once the cool-down has passed, one background probe
(a ``get``) tries it; the store is used again as soon as a probe succeeds, and another
cool-down starts when it fails. When every store's circuit is open, they are all tried
in order anyway, so a call never fails without trying.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from freight.cache.events import CacheFailedOver
from freight.cache.lock import Lock
from freight.cache.stores.base import Clock, Store
from freight.errors import CacheConnectionError, ConfigurationError
from freight.manager import clock_of

if TYPE_CHECKING:
    from freight.cache.manager import CacheManager

__all__ = ["DEFAULT_COOLDOWN", "FailoverLock", "FailoverStore", "create"]

log = logging.getLogger("freight.cache")

R = TypeVar("R")

#: seconds a failing store is skipped before a probe tries it again
DEFAULT_COOLDOWN = 5.0


class FailoverStore(Store):
    """Delegates every operation to the first of its stores that is reachable."""

    driver = "failover"

    def __init__(
        self,
        stores: Sequence[Store],
        *,
        name: str = "",
        prefix: str = "",
        clock: Clock = time.time,
        on_failover: Callable[[CacheFailedOver], None] | None = None,
        version: int = 1,
        cooldown: float = DEFAULT_COOLDOWN,
    ) -> None:
        super().__init__(name=name, prefix=prefix, clock=clock, version=version)
        if not stores:
            raise ConfigurationError(f"failover store {self.name!r} needs a non-empty list of 'stores'")
        if isinstance(cooldown, bool) or not isinstance(cooldown, int | float) or not 0 <= cooldown < 1e9:
            raise ConfigurationError(
                f"failover store {self.name!r}: 'cooldown' must be a number of seconds >= 0, got {cooldown!r}"
            )
        self.stores = list(stores)
        self.cooldown = float(cooldown)
        #: store name -> when its open circuit may be probed (a store failing now is in here)
        self._open: dict[str, float] = {}
        self._probing: set[str] = set()
        self._guard = threading.Lock()
        self._on_failover = on_failover
        #: runs a probe; a daemon thread by default (tests run it in place)
        self.probe_runner: Callable[[Callable[[], None]], None] = _in_thread

    def relayout(self) -> None:
        """A key space of a failover store is that key space of each of its stores."""
        self.stores = [store.space(self.keyspace) for store in self.stores]

    def attempt(self, operation: Callable[[Store], R]) -> R:
        """Run ``operation`` on the first store that does not raise CacheConnectionError, skipping
        stores whose circuit is open (tried last, if every other store failed)."""
        last: CacheConnectionError | None = None
        skipped: list[Store] = []
        opened = self._open
        for store in self.stores:
            if opened and store.name in opened and self.cooldown and self._skip(store):
                skipped.append(store)
                continue
            try:
                result = operation(store)
            except CacheConnectionError as exc:
                self._failed(store, exc)
                last = exc
                continue
            if opened and store.name in opened:
                self._recovered(store)
            return result
        for store in skipped:  # every store is failing: try them all the same
            try:
                return operation(store)
            except CacheConnectionError as exc:
                last = exc
        assert last is not None
        raise last

    # -- primitives -------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """See :meth:`Store.get`."""
        return self.attempt(lambda s: s.get(key))

    def put(self, key: str, value: bytes, seconds: float | None) -> bool:
        """See :meth:`Store.put`."""
        return self.attempt(lambda s: s.put(key, value, seconds))

    def add(self, key: str, value: bytes, seconds: float | None) -> bool:
        """See :meth:`Store.add`."""
        return self.attempt(lambda s: s.add(key, value, seconds))

    def increment(self, key: str, by: int = 1) -> int:
        """See :meth:`Store.increment`."""
        return self.attempt(lambda s: s.increment(key, by))

    def forget(self, key: str) -> bool:
        """See :meth:`Store.forget`."""
        return self.attempt(lambda s: s.forget(key))

    def flush(self) -> bool:
        """Flush the first reachable store."""
        return self.attempt(lambda s: s.flush())

    def touch(self, key: str, seconds: float | None) -> bool:
        """See :meth:`Store.touch`."""
        return self.attempt(lambda s: s.touch(key, seconds))

    def lock(self, name: str, seconds: float = 0, owner: str | None = None) -> Lock:
        """A lock whose every step goes to the first reachable store."""
        return FailoverLock(self, name, seconds, owner)

    def many(self, keys: Iterable[str]) -> dict[str, bytes | None]:
        """See :meth:`Store.many`."""
        keys = list(keys)
        return self.attempt(lambda s: s.many(keys))

    def put_many(self, values: Mapping[str, bytes], seconds: float | None) -> bool:
        """See :meth:`Store.put_many`."""
        return self.attempt(lambda s: s.put_many(values, seconds))

    def prune(self) -> int:
        """Prune the first reachable store."""
        return self.attempt(lambda s: s.prune())

    def describe(self) -> str:
        """``failover [a, b]``."""
        return f"failover [{', '.join(s.name for s in self.stores)}]"

    # -- streaks and the circuit breaker -------------------------------------------------
    def _skip(self, store: Store) -> bool:
        """True while ``store``'s circuit is open; past its cool-down, starts one probe."""
        with self._guard:
            until = self._open.get(store.name)
            if until is None:
                return False
            if self.clock() < until or store.name in self._probing:
                return True
            self._probing.add(store.name)
        self.probe_runner(lambda: self._probe(store))
        return store.name in self._open  # a probe run in place may have closed it already

    def _probe(self, store: Store) -> None:
        """Try ``store`` once: close its circuit if it answers, else start another cool-down."""
        try:
            store.get("\x00failover-probe")
        except CacheConnectionError:
            with self._guard:
                self._open[store.name] = self.clock() + self.cooldown
        except Exception:  # any other answer means the server is reachable
            self._recovered(store)
        else:
            self._recovered(store)
        finally:
            with self._guard:
                self._probing.discard(store.name)

    def _failed(self, store: Store, exc: CacheConnectionError) -> None:
        with self._guard:
            streak = store.name in self._open
            self._open[store.name] = self.clock() + self.cooldown
            if streak:
                return
        log.warning("cache store %r: store %r is unreachable, failing over: %s", self.name, store.name, exc)
        if self._on_failover is not None:
            self._on_failover(CacheFailedOver(self.name, store.name, str(exc)))

    def _recovered(self, store: Store) -> None:
        with self._guard:
            if self._open.pop(store.name, None) is None:
                return
        log.info("cache store %r: store %r is reachable again", self.name, store.name)


def _in_thread(probe: Callable[[], None]) -> None:
    threading.Thread(target=probe, name="freight-failover-probe", daemon=True).start()


class FailoverLock(Lock):
    """A lock delegating each step to the lock of the first reachable store."""

    def __init__(self, store: FailoverStore, name: str, seconds: float = 0, owner: str | None = None) -> None:
        super().__init__(name, seconds, owner)
        self._store = store

    def _on(self, store: Store) -> Lock:
        return store.lock(self.name, self.seconds, self.owner)

    def acquire(self) -> bool:
        """See :meth:`Lock.acquire`."""
        return self._store.attempt(lambda s: self._on(s).acquire())

    def release(self) -> bool:
        """See :meth:`Lock.release`."""
        return self._store.attempt(lambda s: self._on(s).release())

    def force_release(self) -> None:
        """See :meth:`Lock.force_release`."""
        self._store.attempt(lambda s: self._on(s).force_release())

    def current_owner(self) -> str | None:
        """See :meth:`Lock.current_owner`."""
        return self._store.attempt(lambda s: self._on(s).current_owner())

    def refresh(self, seconds: float | None = None) -> bool:
        """See :meth:`Lock.refresh`."""
        return self._store.attempt(lambda s: self._on(s).refresh(seconds))


def create(config: dict[str, Any], manager: CacheManager) -> FailoverStore:
    """Build a failover store over the stores named in ``config["stores"]``."""
    name = config["name"]
    names = config.get("stores")
    if not isinstance(names, list | tuple) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigurationError(f"failover store {name!r} needs 'stores': a non-empty list of store names")
    _check_cycle(manager, name, names, [name])
    return FailoverStore(
        [manager.store(n).store for n in names],
        name=name,
        prefix=str(config.get("prefix") or ""),
        clock=clock_of(config, manager),
        on_failover=manager.dispatch,
        version=config.get("version", 1),
        cooldown=config.get("cooldown", DEFAULT_COOLDOWN),
    )


def _check_cycle(manager: CacheManager, name: str, names: Sequence[str], path: list[str]) -> None:
    """Refuse failover stores that list themselves, directly or through another failover store."""
    for inner in names:
        if inner in path:
            chain = " -> ".join([*path, inner])
            raise ConfigurationError(f"failover store {name!r} lists itself: {chain}")
        config = manager.item_config(inner)
        if config.get("driver") == "failover" and isinstance(config.get("stores"), list | tuple):
            _check_cycle(manager, name, config["stores"], [*path, inner])
