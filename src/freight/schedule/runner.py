"""The scheduler: finds due times, claims them, and starts each run on its own thread.

Each event keeps its next due time. A pass (:meth:`Scheduler.tick`) takes every due time
that has passed: one at most ``grace`` seconds late (the event's period, clamped to
5..60 s) runs; older ones were missed (the scheduler was down, the machine asleep, the
loop stalled) and are logged and recorded, and an event with ``catch_up()`` runs once
for the latest of them. The first due time after a start follows the last one any
scheduler ran or reported, kept in the cache store, so downtime is noticed.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from freight.errors import FreightError
from freight.schedule.events import Event

if TYPE_CHECKING:
    from freight.cache.lock import Lock
    from freight.schedule.schedule import Schedule

__all__ = ["Run", "Scheduler", "current_run"]

log = logging.getLogger("freight.schedule")

MIN_GRACE = 5.0
MAX_GRACE = 60.0
#: due times walked one by one after an outage before jumping to the last grace window
_SCAN_LIMIT = 1000
#: the next due time of an event that has none
_NEVER = 2**62

_local = threading.local()

Spawn = Callable[[Callable[[], None], str], None]


@dataclass(frozen=True)
class Run:
    """One run of an event: the due time it is for, and whether it is a late catch-up run."""

    event: Event
    due: int
    late: bool = False

    @property
    def scheduled(self) -> dt.datetime:
        """The due time in the event's time zone."""
        return self.event.parsed.local(self.due)


def current_run() -> Run | None:
    """The run the calling thread is executing (inside a scheduled callable), or None."""
    return getattr(_local, "run", None)


def grace(period: float) -> float:
    """Seconds a due time may be late and still run on time: its period, clamped to 5..60 s."""
    return min(MAX_GRACE, max(MIN_GRACE, period))


def _thread(target: Callable[[], None], name: str) -> None:
    threading.Thread(target=target, name=name, daemon=True).start()


@dataclass
class _Active:
    run: Run
    lock: Lock | None
    refresh_at: float


class Scheduler:
    """Runs a :class:`Schedule`: ``start()``, then ``tick()`` (or ``run_forever()``), then ``shutdown()``."""

    def __init__(
        self,
        schedule: Schedule,
        *,
        clock: Callable[[], float] = time.time,
        spawn: Spawn | None = None,
        sleep: Callable[[float], object] | None = None,
        max_wait: float = 1.0,
    ) -> None:
        self.schedule = schedule
        self.events = schedule.checked_events()
        self.state = schedule.state(clock)
        self.clock = clock
        self.max_wait = max_wait
        self.fired = 0
        self._spawn = spawn or _thread
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._next: dict[Event, int] = {}
        self._active: dict[int, _Active] = {}
        self._idle = threading.Condition()
        if any(e.one_server for e in self.events) and not self.state.cache.store.shared:
            log.warning(
                "schedule: on_one_server() events claim their due times in cache store %r (%s), which "
                "other processes do not share: every scheduler will run them; use a redis, memcached "
                "or database store ([schedule] store)",
                self.state.cache.name, self.state.cache.store.driver,
            )  # fmt: skip

    # -- the loop -----------------------------------------------------------------------------
    def start(self, since: float | None = None) -> None:
        """Set each event's next due time: after the last one recorded in the store, else after
        ``since`` (default: now)."""
        base = self.clock() if since is None else since
        for event in self.events:
            try:
                stored = self.state.cursor(event)
            except FreightError as exc:
                log.error("schedule: cannot read the last run of %s: %s", event.label, exc)
                stored = None
            self._next[event] = self._following(event, base if stored is None else stored)

    def tick(self, now: float | None = None) -> int:
        """One pass at ``now`` (default: the clock): start every due run; returns how many started."""
        now = self.clock() if now is None else now
        if not self._next:
            self.start(now)
        started = 0
        for event in self.events:
            if self._stop.is_set():
                break
            started += self._tick_event(event, now)
        self._refresh_locks(now)
        return started

    def next_wake(self) -> float:
        """The earliest next due time of any event (Unix time)."""
        return min(self._next.values(), default=self.clock() + self.max_wait)

    def run_forever(self, until: float | None = None) -> None:
        """Tick at every due time until :meth:`stop` (or the clock reaches ``until``)."""
        if not self._next:
            self.start()
        while not self._stop.is_set():
            now = self.clock()
            if until is not None and now >= until:
                break
            self.tick(now)
            wake = self.next_wake() if until is None else min(self.next_wake(), until)
            self._sleep(min(max(wake - self.clock(), 0.0), self.max_wait))

    def stop(self) -> None:
        """Make :meth:`run_forever` return after the current pass; no new run starts."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop.is_set()

    def running(self) -> list[Run]:
        """The runs started by this scheduler that have not finished."""
        with self._idle:
            return [active.run for active in self._active.values()]

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait for the running runs (refreshing their locks); False if some still run after
        ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._idle:
                if not self._active:
                    return True
                left = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
                if left <= 0:
                    return False
                self._idle.wait(left)
            self._refresh_locks(self.clock())

    def shutdown(self, grace_seconds: float = 30.0) -> bool:
        """Stop, wait up to ``grace_seconds`` for running runs, then terminate running commands
        (waiting 5 s more for them); True when nothing was left running at the deadline."""
        self.stop()
        if self.wait_idle(grace_seconds):
            return True
        left = self.running()
        log.warning("schedule: %d run(s) still going after %.0f s: %s", len(left), grace_seconds,
                    ", ".join(run.event.label for run in left))  # fmt: skip
        terminated = {run.event for run in left if run.event.stop()}
        deadline = time.monotonic() + 5.0
        while terminated & {run.event for run in self.running()} and time.monotonic() < deadline:
            time.sleep(0.05)
        return False

    def run_now(self, event: Event) -> Run | None:
        """Start ``event`` now, ignoring its frequency, filters and claims (not its overlap lock)."""
        return self._fire(event, int(self.clock()), late=False, force=True)

    # -- one event ------------------------------------------------------------------------------
    def _tick_event(self, event: Event, now: float) -> int:
        due = self._next[event]
        if due > now:
            return 0
        on_time: list[int] = []
        missed, last_missed, scanned, jumped = 0, 0, 0, False
        while due <= now:
            following = self._following(event, due)
            if now - due <= grace(following - due):
                on_time.append(due)
            else:
                missed, last_missed = missed + 1, due
            due, scanned = following, scanned + 1
            if scanned >= _SCAN_LIMIT and due < now - MAX_GRACE:  # a long outage: skip the walk
                due, jumped = self._following(event, now - MAX_GRACE), True
        self._next[event] = due
        if missed:
            self._missed(event, missed, jumped, last_missed, on_time)
            if event.catches_up and not on_time:
                return 1 if self._fire(event, last_missed, late=True) else 0
        return sum(1 for d in on_time if self._fire(event, d, late=False))

    def _following(self, event: Event, when: float) -> int:
        """The event's first due time after ``when``; never (and an error logged) if it has none."""
        try:
            return event.parsed.next_after(when)
        except FreightError as exc:
            log.error("schedule: %s will not run again: %s", event.label, exc)
            return _NEVER

    def _missed(self, event: Event, count: int, more: bool, last_due: int, on_time: list[int]) -> None:
        """Log and record missed due times (``more``: ``count`` is a lower bound)."""
        catching_up = event.catches_up and not on_time
        log.warning(
            "schedule: %s missed %s%d due time(s), the last at %s; %s",
            event.label, "more than " if more else "", count, event.parsed.local(last_due).isoformat(),
            "running it once now (catch_up)" if catching_up else "skipped",
        )  # fmt: skip
        try:
            self.state.missed(event, last_due, count, catching_up)
        except FreightError as exc:
            log.error("schedule: cannot record the missed runs of %s: %s", event.label, exc)

    def _fire(self, event: Event, due: int, *, late: bool, force: bool = False) -> Run | None:
        """Claim and start one run; None when a filter, a claim or the overlap lock said no."""
        try:
            if not force and not event.filters_pass(due):
                log.debug("schedule: %s due at %s skipped by its filters", event.label, due)
                return None
            if not force and event.one_server and not self.state.claim(event, due):
                return None  # another scheduler claimed this due time
            lock = None
            if event.overlap_expires:
                lock = self.state.overlap_lock(event)
                if not lock.acquire():
                    log.info("schedule: %s skipped: its previous run is still going", event.label)
                    return None
        except Exception as exc:  # a store error or a failing filter: this due time does not run
            log.error("schedule: %s due at %s not run: %s", event.label, due, exc)
            return None
        run = Run(event, due, late)
        refresh = self.clock() + (event.overlap_expires or 0) / 3
        with self._idle:
            self._active[id(run)] = _Active(run, lock, refresh)
        try:
            self._spawn(lambda: self._execute(run, lock), f"freight-schedule:{event.label}")
        except Exception as exc:  # no thread could be started (a process or memory limit)
            log.error("schedule: %s due at %s not run: cannot start its thread: %s", event.label, due, exc)
            self._finish(run, lock)
            return None
        self.fired += 1
        return run

    def _execute(self, run: Run, lock: Lock | None) -> None:
        event, started = run.event, self.clock()
        _local.run = run
        try:
            self.state.started(event, run.due)
        except FreightError as exc:
            log.error("schedule: cannot record the start of %s: %s", event.label, exc)
        try:
            detail, outcome = event.run(), "ok"
            log.info("schedule: ran %s (due %s) in %.3f s%s", event.label, run.scheduled.isoformat(),
                     self.clock() - started, f": {detail}" if detail else "")  # fmt: skip
        except Exception as exc:
            detail, outcome = f"{type(exc).__name__}: {exc}"[:500], "failed"
            log.exception("schedule: %s (due %s) failed", event.label, run.scheduled.isoformat())
        finally:
            _local.run = None
        try:
            self.state.finished(event, run.due, started, outcome, detail)
        except FreightError as exc:
            log.error("schedule: cannot record the end of %s: %s", event.label, exc)
        self._finish(run, lock)

    def _finish(self, run: Run, lock: Lock | None) -> None:
        """Release the run's overlap lock and forget the run."""
        if lock is not None:
            try:
                lock.release()
            except FreightError as exc:
                log.error("schedule: cannot release the overlap lock of %s: %s", run.event.label, exc)
        with self._idle:
            self._active.pop(id(run), None)
            self._idle.notify_all()

    def _refresh_locks(self, now: float) -> None:
        """Extend the overlap lock of every run still going (a third of its TTL before it lapses)."""
        with self._idle:
            due = [a for a in self._active.values() if a.lock is not None and a.refresh_at <= now]
            for active in due:
                active.refresh_at = now + (active.run.event.overlap_expires or 0) / 3
        for active in due:
            try:
                if active.lock is not None and not active.lock.refresh():
                    log.warning("schedule: the overlap lock of %s was lost", active.run.event.label)
            except FreightError as exc:
                log.error("schedule: cannot refresh the overlap lock of %s: %s", active.run.event.label, exc)
