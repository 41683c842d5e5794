"""Application: one object holding an application's cache and queue managers.

The most recently created Application (or the one passed to :meth:`make_current`, or
the one the worker loaded) is *current*: ``Job.dispatch()`` pushes through its queue.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from freight import current as current_module
from freight.cache.manager import CacheManager
from freight.config import load_config, locate
from freight.current import current_app
from freight.queue.manager import QueueManager

if TYPE_CHECKING:
    from freight.metrics import CacheMetrics
    from freight.schedule.schedule import Schedule
    from freight.warmup import Warmers

__all__ = ["Application", "current_app"]

ConfigSource = Mapping[str, Any] | str | os.PathLike[str] | None
F = TypeVar("F", bound=Callable[[], Any])


class Application:
    """Ties a CacheManager and a QueueManager to one configuration."""

    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, config: ConfigSource = None) -> None:
        #: where the configuration came from (a file, FREIGHT_CONFIG, a dict or the defaults)
        self.config_source = str(locate(config))
        self.config: dict[str, Any] = load_config(config)
        self._cache: CacheManager | None = None
        self._queue: QueueManager | None = None
        #: what records the cache stores' counters (None until cache() or when metrics are off)
        self.cache_metrics: CacheMetrics | None = None
        self._schedule: Schedule | None = None
        self._warmers: Warmers | None = None
        self.make_current()

    @classmethod
    def from_config(cls, source: ConfigSource) -> Application:
        """An Application from a config dict, a TOML file path, or None (discovery + defaults)."""
        return cls(source)

    @classmethod
    def current(cls) -> Application | None:
        """The current Application, or None."""
        return current_module.get_current()

    def make_current(self) -> Application:
        """Make this the Application that ``Job.dispatch()`` uses; returns self."""
        current_module.set_current(self)
        return self

    def cache(self) -> CacheManager:
        """The cache manager (created on first use)."""
        if self._cache is None:
            from freight import warmup  # noqa: F401  (installs the queued refresh of flexible)
            from freight.metrics import cache_metrics

            with self._guard:
                if self._cache is None:
                    self._cache = CacheManager(self.config["cache"])
                    self.cache_metrics = cache_metrics(
                        self._cache, self.config.get("metrics"), lambda name: self.queue().connection(name)
                    )
        return self._cache

    def queue(self) -> QueueManager:
        """The queue manager (created on first use)."""
        if self._queue is None:
            with self._guard:
                if self._queue is None:
                    self._queue = QueueManager(self.config["queue"])
        return self._queue

    def swap_cache(self, manager: CacheManager | None) -> CacheManager | None:
        """Use ``manager`` as the cache manager (None: build it from the config on next use);
        returns the one used until now (``freight.testing.fake_cache`` swaps it back)."""
        with self._guard:
            previous, self._cache = self._cache, manager
        return previous

    def swap_queue(self, manager: QueueManager | None) -> QueueManager | None:
        """Use ``manager`` as the queue manager (None: build it from the config on next use);
        returns the one used until now (``freight.testing.fake_queue`` swaps it back)."""
        with self._guard:
            previous, self._queue = self._queue, manager
        return previous

    def schedule(self) -> Schedule:
        """The application's schedule of jobs, callables and commands (created on first use)."""
        if self._schedule is None:
            from freight.schedule.schedule import Schedule

            with self._guard:
                if self._schedule is None:
                    self._schedule = Schedule(self)
        return self._schedule

    @property
    def warmers(self) -> Warmers:
        """The registered cache warmers by name (``python -m freight cache:warm`` runs them)."""
        if self._warmers is None:
            from freight.warmup import Warmers  # imports the queue layer only when warmers are used

            with self._guard:
                if self._warmers is None:
                    self._warmers = Warmers()
        return self._warmers

    def warmer(
        self,
        name: str,
        *,
        ttl: float | None = None,
        key: str | None = None,
        store: str | None = None,
        tags: Iterable[str] = (),
    ) -> Callable[[F], F]:
        """Decorator registering a cache warmer: its return value is stored under ``key`` (default
        ``name``) in ``store`` for ``ttl`` seconds (None: forever), tagged with ``tags``."""

        def register(fn: F) -> F:
            self.warmers.add(name, fn, ttl=ttl, key=key, store=store, tags=tags)
            return fn

        return register

    def close(self) -> None:
        """Close every resolved store and connection (``with Application(...) as app:`` does it
        on exit); the managers reconnect if used again."""
        if self.cache_metrics is not None:
            self.cache_metrics.recorder.stop()
        if self._cache is not None:
            self._cache.purge()
        if self._queue is not None:
            self._queue.purge()
        if current_module.get_current() is self:
            current_module.set_current(None)

    def __enter__(self) -> Application:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<Application cache={self.config['cache']['default']!r} "
            f"queue={self.config['queue']['default']!r}>"
        )
