"""``python -m freight work --processes N``: one supervisor and N worker processes.

Each worker is a fresh interpreter started with :mod:`subprocess` (``python -m freight
work`` with the same options, minus the pool's), never a fork of the supervisor, so no
connection, lock or thread is ever shared between processes. The supervisor:

* **restarts** a worker that exits (a crash, SIGKILL, ``--memory``, ``--max-jobs``/
  ``--max-time`` recycling) at once, or after a growing delay (0.5 s doubling to 60 s)
  while it keeps dying within ``MIN_UPTIME`` seconds of starting; a worker started with
  ``--stop-when-empty`` or ``--once`` that exits 0 is done and is not restarted;
* **forwards SIGTERM and SIGINT** to every worker as SIGTERM (each finishes its job and
  hands back what it reserved ahead), waits for all of them and exits 0;
* **SIGHUP** restarts the workers one at a time (a rolling restart, for deploys): each
  is stopped gracefully and replaced before the next is stopped;
* with ``--autoscale MIN,MAX`` runs between MIN and MAX workers: every ``--cooldown``
  seconds it reads the backlog and moves by at most one process (Horizon's
  ``balanceMaxShift``), see :func:`autoscale_target`.

Workers ignore SIGHUP (only the supervisor acts on it) and, on Linux, receive SIGTERM
if the supervisor dies, so they never outlive it unsupervised.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MIN_UPTIME", "Supervisor", "autoscale_target", "child_argv", "restart_delay", "supervised_child"]

log = logging.getLogger("freight.worker")

#: a worker that exits sooner than this after starting counts as "keeps dying"
MIN_UPTIME = 10.0
#: the longest wait before restarting a worker that keeps dying
MAX_RESTART_DELAY = 60.0
#: options of the pool itself, not passed on to the workers (name -> takes a value)
POOL_OPTIONS = {"--processes": True, "--autoscale": True, "--cooldown": True, "--max-wait": True}
_PR_SET_PDEATHSIG = 1
#: set in each worker's environment to the supervisor's pid
SUPERVISOR_ENV = "FREIGHT_SUPERVISOR_PID"


def child_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` (the command line after ``python -m freight``) without the pool's options."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in POOL_OPTIONS:
            skip = POOL_OPTIONS[name] and "=" not in arg
            continue
        out.append(arg)
    return out


def restart_delay(failures: int) -> float:
    """Seconds before restarting a worker that died young ``failures`` times in a row."""
    return 0.0 if failures <= 0 else min(MAX_RESTART_DELAY, 0.5 * 2 ** (failures - 1))


def autoscale_target(
    current: int, backlog: int, drained_per_second: float, lo: int, hi: int, max_wait: float
) -> int:
    """How many workers to run next: at most one more or one fewer than ``current``.

    The expected wait of the newest job is ``backlog / drained_per_second`` (the pool's
    measured pace over the last cooldown; infinite when the backlog did not shrink).
    Above ``max_wait``, add a worker; with no backlog, or a wait under a quarter of
    ``max_wait`` that one worker fewer would still meet, remove one. Always within
    ``[lo, hi]``.
    """
    if backlog <= 0:
        target = current - 1
    else:
        wait = backlog / drained_per_second if drained_per_second > 0 else math.inf
        if wait > max_wait:
            target = current + 1
        elif current > 1 and wait * current / (current - 1) < max_wait / 4:
            target = current - 1
        else:
            target = current
    return max(lo, min(hi, target))


def supervised_child() -> None:
    """In a worker started by a supervisor: ignore SIGHUP, and (Linux) get SIGTERM if the
    supervisor dies. Nothing happens in a worker started any other way."""
    if os.environ.get(SUPERVISOR_ENV) != str(os.getppid()):
        return
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() != int(os.environ[SUPERVISOR_ENV]):  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class Slot:
    """One worker position of the pool and the process filling it."""

    index: int
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    start_at: float = 0.0
    retiring: bool = False
    done: bool = False
    codes: list[int] = field(default_factory=list)


class Supervisor:
    """Runs and watches the worker processes of one ``work --processes`` command."""

    def __init__(
        self,
        argv: Sequence[str],
        processes: int,
        *,
        autoscale: tuple[int, int] | None = None,
        cooldown: float = 3.0,
        max_wait: float = 10.0,
        backlog: Callable[[], int] | None = None,
        python: str = sys.executable,
        monotonic: Callable[[], float] = time.monotonic,
        tick: float = 0.05,
    ) -> None:
        self.command = [python, "-m", "freight", *child_argv(argv)]
        self.finite = "--stop-when-empty" in argv or "--once" in argv
        self.lo, self.hi = autoscale or (processes, processes)
        self.want = max(self.lo, min(self.hi, processes))
        self.cooldown = cooldown
        self.max_wait = max_wait
        self.backlog = backlog
        self.monotonic = monotonic
        self.tick = tick
        self.slots: list[Slot] = []
        self.stopping = False
        self.rolling: list[Slot] = []
        self.hup = False
        self.restarts = 0
        self._last_scale = (monotonic(), -1)

    # -- signals --------------------------------------------------------------------------
    def _on_stop(self, signum: int, frame: Any) -> None:
        if not self.stopping:
            log.info("supervisor: %s, stopping %d workers", signal.Signals(signum).name, self.running())
        self.stopping = True
        for slot in self.slots:
            self._terminate(slot)

    def _on_hup(self, signum: int, frame: Any) -> None:
        self.hup = True  # acted on by the loop, not in the middle of whatever it was doing

    # -- processes ------------------------------------------------------------------------
    def running(self) -> int:
        """Workers alive now."""
        return sum(1 for s in self.slots if s.proc is not None)

    def pids(self) -> list[int]:
        """Process ids of the workers alive now."""
        return [s.proc.pid for s in self.slots if s.proc is not None]

    def _start(self, slot: Slot) -> None:
        env = dict(os.environ, FREIGHT_WORKER_SLOT=str(slot.index))
        env[SUPERVISOR_ENV] = str(os.getpid())
        slot.proc = subprocess.Popen(self.command, env=env)
        slot.started = self.monotonic()
        slot.retiring = False

    def _terminate(self, slot: Slot) -> None:
        if slot.proc is not None and slot.proc.poll() is None:
            try:
                slot.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _reap(self, now: float) -> None:
        for slot in self.slots:
            proc = slot.proc
            if proc is None or proc.poll() is None:
                continue
            code = int(proc.returncode)
            slot.proc = None
            slot.codes.append(code)
            if self.stopping:
                slot.done = True
                continue
            if slot.retiring:  # rolling restart: replaced at once; a surplus slot stays empty
                slot.start_at = now
                continue
            if code == 0 and self.finite:
                slot.done = True
                continue
            young = now - slot.started < MIN_UPTIME
            slot.failures = slot.failures + 1 if young else 0
            slot.start_at = now + restart_delay(slot.failures)
            self.restarts += 1
            log.warning(
                "supervisor: worker %d (pid %d) exited with code %d; restarting it in %.1f s",
                slot.index,
                proc.pid,
                code,
                slot.start_at - now,
            )

    def _roll(self) -> None:
        """Advance a rolling restart: stop the next worker once the previous one is replaced."""
        if self.hup:
            self.hup = False
            log.info("supervisor: SIGHUP, restarting the workers one at a time")
            self.rolling = [s for s in self.slots if not s.done]
        if any(s.retiring for s in self.slots):
            return
        while self.rolling:
            slot = self.rolling.pop(0)
            if slot.proc is not None:
                slot.retiring = True
                self._terminate(slot)
                return
            slot.start_at = 0.0  # waiting out a restart delay: start the new code now

    def _scale(self, now: float) -> None:
        if self.backlog is None or self.lo == self.hi or now - self._last_scale[0] < self.cooldown:
            return
        try:
            backlog = int(self.backlog())
        except Exception as exc:  # noqa: BLE001 - a failed size() must not stop the pool
            log.warning("supervisor: cannot read the backlog (%s); keeping %d workers", exc, self.want)
            return
        then, before = self._last_scale
        pace = (before - backlog) / (now - then) if before >= 0 and before > backlog else 0.0
        self._last_scale = (now, backlog)
        target = autoscale_target(self.want, backlog, pace, self.lo, self.hi, self.max_wait)
        if target != self.want:
            log.info("supervisor: backlog %d, %d -> %d workers", backlog, self.want, target)
        if target < self.want:  # retire the newest surplus worker: it finishes its job first
            for slot in self.slots[target:]:
                slot.retiring = True
                self._terminate(slot)
        self.want = target

    def _fill(self, now: float) -> None:
        while len(self.slots) < self.want:
            self.slots.append(Slot(len(self.slots), start_at=now))
        for slot in self.slots[: self.want]:
            if slot.proc is None and not slot.done and not self.stopping and now >= slot.start_at:
                slot.retiring = False
                self._start(slot)

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> int:
        """Supervise until stopped (0), or until every finite worker is done (the worst code)."""
        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        log.info("supervisor: starting %d workers: %s", self.want, " ".join(self.command[1:]))
        try:
            while True:
                now = self.monotonic()
                self._reap(now)
                if self.stopping:
                    if self.running() == 0:
                        return 0
                else:
                    self._roll()
                    self._scale(now)
                    self._fill(now)
                    active = self.slots[: self.want]
                    if self.finite and active and all(s.done for s in active) and self.running() == 0:
                        return max((s.codes[-1] for s in active if s.codes), default=0)
                time.sleep(self.tick)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
