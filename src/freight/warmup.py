"""Cache warm-up: a registry of warmers on the Application, ``cache:warm``, and queued refreshes.

::

    @app.warmer("user_list", ttl=3600)        # stored under "user_list" for an hour
    def user_list():
        return load_users()

    python -m freight cache:warm [NAME ...] [--queue]

A warmer computes a value and it is stored under its ``key`` (default: its name) in
its ``store`` (default: the default store), with its ``ttl`` and ``tags``. A warmer
that raises leaves the old value in place (nothing is written) and is reported; the
others still run. :func:`warm` is the plain function behind the command (the
scheduler's ``schedule.warm(name)`` runs it). ``--queue`` pushes one
:class:`WarmCache` job per warmer instead; the worker runs it with the warmers of the
application it loaded.

This module also installs the job behind ``flexible(..., defer="queue")``
(:class:`RefreshCacheValue`): the builder must be a module-level function, named in
the job by its import path.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from freight.cache import flight
from freight.current import current_app
from freight.errors import ConfigurationError
from freight.manager import import_object
from freight.queue.job import Job

if TYPE_CHECKING:
    from freight.app import Application
    from freight.cache.repository import Repository

__all__ = ["RefreshCacheValue", "WarmCache", "WarmReport", "Warmer", "Warmers", "register", "warm"]


@dataclass(frozen=True)
class Warmer:
    """One registered warmer: ``fn()`` computes the value stored under ``key``."""

    name: str
    fn: Callable[[], Any]
    ttl: float | None = None
    key: str | None = None
    store: str | None = None
    tags: tuple[str, ...] = ()

    def run(self, app: Application) -> int:
        """Compute and store the value; the number of keys written (a failure raises, writing
        nothing)."""
        value = self.fn()
        repository = app.cache().store(self.store)
        repository.put(self.key or self.name, value, self.ttl, tags=list(self.tags) or None)
        return 1


class Warmers(dict[str, Warmer]):
    """The warmers of an Application, by name."""

    def add(
        self,
        name: str,
        fn: Callable[[], Any],
        *,
        ttl: float | None = None,
        key: str | None = None,
        store: str | None = None,
        tags: Iterable[str] = (),
    ) -> Warmer:
        """Register ``fn`` as the warmer ``name`` (a second warmer of that name replaces it)."""
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"a warmer needs a non-empty name, got {name!r}")
        if not callable(fn):
            raise ConfigurationError(f"warmer {name!r} is not callable: {fn!r}")
        warmer = Warmer(name, fn, ttl, key, store, tuple(tags))
        self[name] = warmer
        return warmer

    def select(self, names: Iterable[str] = ()) -> list[Warmer]:
        """The warmers named (every one when none is), refusing unknown names."""
        wanted = list(names)
        unknown = [n for n in wanted if n not in self]
        if unknown:
            known = ", ".join(sorted(self)) or "none registered"
            raise ConfigurationError(f"unknown warmer(s) {', '.join(unknown)} (known: {known})")
        return [self[n] for n in wanted] if wanted else list(self.values())


@dataclass
class WarmReport:
    """What a warm-up did: keys written, time taken, and the warmers that failed (name, error)."""

    warmed: list[str] = field(default_factory=list)
    keys: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One line: warmers, keys, time, failures."""
        total = len(self.warmed) + len(self.failures)
        line = f"Warmed {len(self.warmed)} of {total} warmer(s): {self.keys} key(s) in {self.seconds:.2f} s"
        if self.failures:
            line += f"; {len(self.failures)} failed (old values kept)"
        return line + "."


def warm(
    app: Application, names: Iterable[str] = (), progress: Callable[[int, int, str, str], None] | None = None
) -> WarmReport:
    """Run the warmers ``names`` (every one by default) now; a failing warmer is reported and its
    old value stays. ``progress(done, total, name, outcome)`` is called after each."""
    selected = app.warmers.select(names)
    report, started = WarmReport(), time.monotonic()
    for index, warmer in enumerate(selected, 1):
        try:
            report.keys += warmer.run(app)
        except Exception as exc:
            report.failures.append((warmer.name, f"{type(exc).__name__}: {exc}"))
            outcome = "failed"
        else:
            report.warmed.append(warmer.name)
            outcome = "ok"
        if progress is not None:
            progress(index, len(selected), warmer.name, outcome)
    report.seconds = time.monotonic() - started
    return report


class WarmCache(Job):
    """Runs one warmer of the worker's application (``cache:warm --queue``)."""

    def handle(self) -> None:
        """Run the warmer named in ``data["warmer"]``; a failure fails the job (the old value stays)."""
        app = current_app()
        app.warmers.select([str(self.data["warmer"])])[0].run(app)


class RefreshCacheValue(Job):
    """Recomputes one ``flexible`` value in a worker (``defer="queue"``)."""

    def handle(self) -> None:
        """Refresh ``data["key"]`` of ``data["store"]`` with the builder at ``data["fn"]``."""
        data = self.data
        repository = current_app().cache().store(str(data["store"]))
        fn = import_object(str(data["fn"]))
        key, fresh, stale = str(data["key"]), float(data["fresh"]), float(data["stale"])
        guard = repository.lock(f"refresh:{key}", max(stale, 1.0))
        if not guard.acquire():
            return  # another refresh is running
        try:
            repository.refresh(key, (fresh, stale), fn, tags=data.get("tags"))
        finally:
            guard.release()


def _queue_refresh(
    repository: Repository, key: str, fresh: float, stale: float, fn: Any, tags: list[str] | None
) -> None:
    path = f"{getattr(fn, '__module__', '')}:{getattr(fn, '__qualname__', '')}"
    if "<" in path or path.startswith(":") or path.endswith(":"):
        raise ConfigurationError(
            f"flexible({key!r}, defer='queue') needs a module-level function as the builder (got {fn!r}): "
            "the worker imports it by name"
        )
    data = {"store": repository.name, "key": key, "fresh": fresh, "stale": stale, "fn": path, "tags": tags}
    RefreshCacheValue.dispatch(data)


flight.set_queue_refresher(_queue_refresh)


# -- the command ------------------------------------------------------------------------------
def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cache:warm`` to ``subparsers``."""
    p = subparsers.add_parser("cache:warm", help="run the application's cache warmers (all, or those named)")
    p.add_argument("names", nargs="*", metavar="NAME", help="warmers to run (default: every one)")
    p.add_argument("--queue", action="store_true", help="push one job per warmer instead of running them")
    p.set_defaults(handler=command)


def command(args: argparse.Namespace, app: Application) -> int:
    """``cache:warm [NAME ...] [--queue]``: progress on a terminal, then a summary."""
    selected = app.warmers.select(args.names)
    if not selected:
        print("No cache warmers are registered (use @app.warmer(name, ttl=...)).")
        return 0
    if args.queue:
        for warmer in selected:
            WarmCache.dispatch({"warmer": warmer.name})
        print(f"Queued {len(selected)} warmer job(s): {', '.join(w.name for w in selected)}.")
        return 0
    report = warm(app, [w.name for w in selected], _progress(sys.stderr))
    print(report.summary())
    for name, error in report.failures:
        print(f"  {name}: {error}")
    return 1 if report.failures else 0


def _progress(stream: TextIO) -> Callable[[int, int, str, str], None] | None:
    """A progress line rewritten in place, only on a terminal."""
    if not stream.isatty():
        return None

    def show(done: int, total: int, name: str, outcome: str) -> None:
        end = "\n" if done == total else ""
        stream.write(f"\r\x1b[2K[{done}/{total}] {name}: {outcome}{end}")
        stream.flush()

    return show
