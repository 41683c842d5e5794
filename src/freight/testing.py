"""Test helpers: fake an application's queue or cache, then assert on what was pushed or stored.

The pytest-friendly counterpart of Laravel's ``Queue::fake()``::

    from freight.testing import fake_queue

    def test_signup_sends_a_welcome_email(app):
        with fake_queue(app) as queue:
            signup("ada@example.com")              # calls SendWelcomeEmail.dispatch(...)
            queue.assert_pushed(SendWelcomeEmail, count=1, where=lambda job: job.data["to"] == "ada")
            queue.assert_not_pushed(ChargeCard)
            queue.run_pushed()                     # run them here, in this thread

``fake_queue(app)`` swaps every connection of ``app`` for an in-memory one (the
``memory`` driver, with the same names, default queues and keys) and records every
push; jobs are not run unless ``run_pushed()`` is called. ``fake_cache(app)`` swaps
every cache store for an ``array`` store. Leaving the ``with`` block (or calling
``restore()``) puts the real managers back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from freight.app import Application
from freight.cache.manager import CacheManager
from freight.queue.events import JobEvent
from freight.queue.job import Job
from freight.queue.manager import QueueManager
from freight.queue.runner import Runner

__all__ = ["FakeCache", "FakeQueue", "fake_cache", "fake_queue"]

J = TypeVar("J", bound=Job)
_MISSING: Any = object()
#: jobs ``run_pushed`` runs at most in one call (a job that keeps releasing itself would loop)
RUN_LIMIT = 10_000


class FakeQueue:
    """An application's queue, faked: pushes are recorded and kept in memory."""

    def __init__(self, app: Application) -> None:
        self.app = app
        real = app.queue()
        connections: dict[str, Any] = {}
        for name, config in real.items.items():
            config = config if isinstance(config, Mapping) else {}
            fake: dict[str, Any] = {"driver": "memory", "queue": config.get("queue") or "default"}
            if config.get("key"):
                fake["key"] = config["key"]
            connections[name] = fake
        #: the fake QueueManager now serving ``app.queue()``
        self.manager = QueueManager(
            {"default": real.config.get("default"), "connections": connections, "failed": {"driver": "null"}},
            clock=real.clock,
        )
        #: every ``pushed`` event, in order
        self.events: list[JobEvent] = []
        self._errors: list[BaseException] | None = None
        self._runners: dict[str, Runner] = {}
        self.manager.on("pushed", self.events.append)
        self.manager.on("retrying", self._failed)
        self.manager.on("failed", self._failed)
        self._real: QueueManager | None = app.swap_queue(self.manager)

    # -- what was pushed ---------------------------------------------------------------------
    def pushed(self, job_class: type[J], where: Callable[[J], bool] | None = None) -> list[J]:
        """The jobs of ``job_class`` (subclasses included) pushed so far, oldest first."""
        jobs = [e.instance for e in self.events if isinstance(e.instance, job_class)]
        return [job for job in jobs if where is None or where(job)]

    def assert_pushed(
        self, job_class: type[J], count: int | None = None, where: Callable[[J], bool] | None = None
    ) -> None:
        """Fail unless ``job_class`` was pushed (exactly ``count`` times, when given), counting
        only the jobs for which ``where(job)`` is true."""
        found = len(self.pushed(job_class, where))
        if (count is None and found) or found == count:
            return
        wanted = "at least once" if count is None else f"{count} time{'s' if count != 1 else ''}"
        matching = " matching where=" if where is not None else ""
        raise AssertionError(
            f"expected {job_class.__qualname__}{matching} to be pushed {wanted}, it was pushed "
            f"{found} time{'s' if found != 1 else ''}; pushed: {self._summary()}"
        )

    def assert_not_pushed(self, job_class: type[J], where: Callable[[J], bool] | None = None) -> None:
        """Fail if ``job_class`` (matching ``where``, when given) was pushed."""
        found = len(self.pushed(job_class, where))
        if found:
            matching = " matching where=" if where is not None else ""
            raise AssertionError(
                f"expected {job_class.__qualname__}{matching} not to be pushed, it was pushed "
                f"{found} time{'s' if found != 1 else ''}"
            )

    def assert_nothing_pushed(self) -> None:
        """Fail if any job was pushed."""
        if self.events:
            raise AssertionError(f"expected no job to be pushed; pushed: {self._summary()}")

    # -- running them --------------------------------------------------------------------------
    def run_pushed(self, *, raise_exceptions: bool = True) -> int:
        """Run every job that is ready, and the ones they push, in this thread; returns how many
        ran. A job that raises is released with its backoff (or fails for good), as under a
        worker; with ``raise_exceptions`` the first such exception is raised once all have run.
        Delayed jobs whose time has not come stay queued."""
        self._errors = []
        ran = 0
        try:
            progressed = True
            while progressed:
                progressed = False
                for connection, queue in self._lanes():
                    runner = self._runner(connection)
                    for job in runner.queue.pop_many(queue, 100):
                        runner.process(job)
                        ran += 1
                        progressed = True
                if ran > RUN_LIMIT:
                    raise AssertionError(f"run_pushed ran {ran} jobs: a job keeps releasing itself?")
            errors = self._errors
        finally:
            self._errors = None
        if errors and raise_exceptions:
            raise errors[0]
        return ran

    def _lanes(self) -> list[tuple[str, str]]:
        seen = dict.fromkeys((e.connection, e.queue) for e in self.events)
        return list(seen)

    def _runner(self, connection: str) -> Runner:
        runner = self._runners.get(connection)
        if runner is None:
            queue = self.manager.connection(connection)
            runner = self._runners[connection] = Runner(
                queue, self.manager.failed, clock=queue.clock, grace=None
            )
        return runner

    def _failed(self, event: JobEvent) -> None:
        if self._errors is not None and event.exception is not None:
            self._errors.append(event.exception)

    def _summary(self) -> str:
        names = [e.job_class.rpartition(":")[2] for e in self.events]
        return ", ".join(names) if names else "nothing"

    # -- undoing it ------------------------------------------------------------------------------
    def restore(self) -> None:
        """Give the application its real queue manager back."""
        if self.app.queue() is self.manager:
            self.app.swap_queue(self._real)
        self.manager.purge()

    def __enter__(self) -> FakeQueue:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.restore()


class FakeCache:
    """An application's cache, faked: every store is an in-memory ``array`` store."""

    def __init__(self, app: Application) -> None:
        self.app = app
        real = app.cache()
        stores = {name: {"driver": "array"} for name in real.items}
        #: the fake CacheManager now serving ``app.cache()``
        self.manager = CacheManager(
            {
                "default": real.config.get("default"),
                "prefix": real.config.get("prefix") or "",
                "stores": stores,
            },
            clock=real.clock,
        )
        self._real: CacheManager | None = app.swap_cache(self.manager)

    def assert_has(self, key: str, value: Any = _MISSING, store: str | None = None) -> None:
        """Fail unless ``key`` is cached (with ``value``, when given) in ``store`` (default: the default)."""
        repository = self.manager.store(store)
        if not repository.has(key):
            raise AssertionError(f"expected {key!r} to be cached in store {repository.name!r}")
        if value is not _MISSING and repository.get(key) != value:
            raise AssertionError(f"expected {key!r} to be cached as {value!r}, found {repository.get(key)!r}")

    def assert_missing(self, key: str, store: str | None = None) -> None:
        """Fail if ``key`` is cached in ``store`` (default: the default)."""
        repository = self.manager.store(store)
        if repository.has(key):
            raise AssertionError(f"expected {key!r} not to be cached, found {repository.get(key)!r}")

    def restore(self) -> None:
        """Give the application its real cache manager back."""
        if self.app.cache() is self.manager:
            self.app.swap_cache(self._real)
        self.manager.purge()

    def __enter__(self) -> FakeCache:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.restore()


def fake_queue(app: Application) -> FakeQueue:
    """Fake ``app``'s queue until ``restore()`` (or the end of a ``with`` block)."""
    return FakeQueue(app)


def fake_cache(app: Application) -> FakeCache:
    """Fake ``app``'s cache until ``restore()`` (or the end of a ``with`` block)."""
    return FakeCache(app)
