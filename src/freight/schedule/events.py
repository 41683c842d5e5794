"""Scheduled events: a job to dispatch, a callable to run, a freight command to start.

An event is a cron expression (see :mod:`freight.schedule.frequencies`) plus what runs
when it is due and how: :meth:`Event.on_one_server` (one claim per due time in the cache
store), :meth:`Event.without_overlapping` (skip while a run is going) and
:meth:`Event.catch_up` (one late run after missed due times).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import subprocess
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Self

from freight.errors import ConfigurationError, FreightError
from freight.schedule.frequencies import Frequencies
from freight.warmup import warm

if TYPE_CHECKING:
    from freight.app import Application
    from freight.queue.job import Job

__all__ = [
    "CallEvent",
    "CommandEvent",
    "CommandFailedError",
    "Event",
    "JobEvent",
    "WarmEvent",
    "WarmFailedError",
]

log = logging.getLogger("freight.schedule")

#: seconds a ``without_overlapping`` lock lives without a refresh (Laravel keeps 24 h; here
#: the scheduler refreshes it while the run goes on, so a dead holder frees it this soon)
DEFAULT_OVERLAP_EXPIRES = 300.0


class CommandFailedError(FreightError):
    """A scheduled freight command exited with a non-zero status."""


class WarmFailedError(FreightError):
    """A scheduled cache warm-up had warmers that raised (their old values were kept)."""


class Event(Frequencies, ABC):
    """One scheduled task: when it is due (a cron expression) and what runs then."""

    #: "job", "call" or "command"
    kind = "event"

    def __init__(self, tz: dt.tzinfo = dt.UTC) -> None:
        super().__init__(tz)
        self._name: str | None = None
        self.one_server = False
        self.overlap_expires: float | None = None
        self.catches_up = False

    # -- identity ---------------------------------------------------------------------------
    @property
    @abstractmethod
    def description(self) -> str:
        """What runs, such as ``job myapp.jobs.Prune`` or ``command cache:prune``."""

    def name(self, name: str) -> Self:
        """Name the event (shown by schedule:list, used by schedule:test and in the store keys)."""
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError("an event name must be a non-empty string")
        self._name = name.strip()
        return self

    @property
    def label(self) -> str:
        """The event's name, else its description."""
        return self._name or self.description

    @property
    def identity(self) -> str:
        """What tells this event apart in the store: its name, else description + expression + zone."""
        if self._name:
            return self._name
        return f"{self.description} [{self.expression}] {self.tz}"

    @property
    def key(self) -> str:
        """A short stable hash of :attr:`identity`, for cache keys."""
        return hashlib.sha1(self.identity.encode()).hexdigest()[:16]

    # -- how it runs ------------------------------------------------------------------------
    def on_one_server(self) -> Self:
        """Fire each due time on one scheduler only: the first to claim it in the cache store."""
        self.one_server = True
        return self

    def without_overlapping(self, expires: float = DEFAULT_OVERLAP_EXPIRES) -> Self:
        """Skip a due time while the previous run still goes on (its lock lapses ``expires`` s
        after its holder died)."""
        if expires <= 0:
            raise ConfigurationError("without_overlapping(expires=...) must be a positive number of seconds")
        self.overlap_expires = float(expires)
        return self

    def catch_up(self, enabled: bool = True) -> Self:
        """After missed due times (scheduler down, machine asleep), run once, late."""
        self.catches_up = enabled
        return self

    @abstractmethod
    def run(self) -> str:
        """Do the work now, in the calling thread; returns a detail for the status (or raises)."""

    def stop(self) -> bool:
        """Ask running work to end (a command's processes are terminated); True if there was any."""
        return False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label!r} {self.expression!r} {self.tz}>"


class CallEvent(Event):
    """A callable run in the scheduler process, on its own thread."""

    kind = "call"

    def __init__(self, fn: Callable[..., Any], args: Sequence[Any] = (), tz: dt.tzinfo = dt.UTC) -> None:
        if not callable(fn):
            raise ConfigurationError(f"schedule.call() needs a callable, not {type(fn).__name__}")
        super().__init__(tz)
        self.fn = fn
        self.args = tuple(args)

    @property
    def description(self) -> str:
        """``call module.qualname`` of the callable."""
        module = getattr(self.fn, "__module__", None) or "?"
        return f"call {module}.{getattr(self.fn, '__qualname__', type(self.fn).__qualname__)}"

    def run(self) -> str:
        """Call the function; its return value (if any) becomes the detail."""
        result = self.fn(*self.args)
        return "" if result is None else str(result)[:200]


class JobEvent(Event):
    """A job dispatched to its queue (a worker runs it)."""

    kind = "job"

    def __init__(
        self,
        app: Application,
        job: Job,
        queue: str | None = None,
        connection: str | None = None,
        tz: dt.tzinfo = dt.UTC,
    ) -> None:
        super().__init__(tz)
        self.app = app
        self.job = job
        self.queue = queue
        self.connection = connection

    @property
    def description(self) -> str:
        """``job module.Class`` of the job."""
        cls = type(self.job)
        return f"job {cls.__module__}.{cls.__qualname__}"

    def run(self) -> str:
        """Push the job; the detail is its id."""
        connection = self.app.queue().connection(self.connection or self.job.connection)
        return f"job {connection.push(self.job, self.queue)}"


class CommandEvent(Event):
    """A freight command (``cache:prune``) run as ``python -m freight ...`` in a child process."""

    kind = "command"

    def __init__(self, argv: Sequence[str], options: Callable[[], list[str]], tz: dt.tzinfo = dt.UTC) -> None:
        if not argv:
            raise ConfigurationError("schedule.command() needs a command, such as 'cache:prune'")
        super().__init__(tz)
        self.argv = list(argv)
        self._options = options
        self._running: set[subprocess.Popen[str]] = set()
        self._guard = threading.Lock()

    @property
    def description(self) -> str:
        """``command`` and the command line."""
        return "command " + " ".join(self.argv)

    def run(self) -> str:
        """Run the command to its end; its last output line is the detail."""
        argv = [sys.executable, "-m", "freight", *self.argv, *self._options()]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        with self._guard:
            self._running.add(proc)
        try:
            output, _ = proc.communicate()
        finally:
            with self._guard:
                self._running.discard(proc)
        lines = [line for line in output.splitlines() if line.strip()]
        for line in lines:
            log.info("%s: %s", self.label, line)
        if proc.returncode != 0:
            raise CommandFailedError(
                f"{' '.join(self.argv)!r} exited with status {proc.returncode}"
                + (f": {lines[-1]}" if lines else "")
            )
        return lines[-1][:200] if lines else ""

    def stop(self) -> bool:
        """Terminate the command's running processes (SIGTERM); True if there were any."""
        with self._guard:
            for proc in self._running:
                proc.terminate()
            return bool(self._running)


class WarmEvent(Event):
    """Cache warmers registered with ``app.warmer(...)``, run in the scheduler process."""

    kind = "warm"

    def __init__(self, app: Application, names: Sequence[str], tz: dt.tzinfo = dt.UTC) -> None:
        if not names:
            raise ConfigurationError("schedule.warm() needs the name of at least one warmer")
        super().__init__(tz)
        self.app = app
        self.names = list(names)

    @property
    def description(self) -> str:
        """``warm`` and the warmers' names."""
        return "warm " + " ".join(self.names)

    def run(self) -> str:
        """Run the warmers (as ``cache:warm NAME ...`` does); any failure fails the run."""
        report = warm(self.app, self.names)
        if report.failures:
            failed = "; ".join(f"{name}: {error}" for name, error in report.failures)
            raise WarmFailedError(f"{report.summary()} {failed}")
        return report.summary()
