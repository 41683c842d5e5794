"""Signal plumbing of the worker: the soft timeout (SIGALRM) and graceful stop (SIGTERM/SIGINT).

Python runs signal handlers in the main thread only, so both work only when the
worker runs there; elsewhere :class:`Alarm` is inert (the watchdog's hard limit still
applies) and stop signals are left to the host application.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from freight.errors import JobTimeoutError

__all__ = ["Alarm", "StopSignals", "in_main_thread"]

_Handler = Callable[[int, FrameType | None], Any] | int | None


def in_main_thread() -> bool:
    """True in the interpreter's main thread (where signal handlers run)."""
    return threading.current_thread() is threading.main_thread()


class Alarm:
    """Raises :class:`JobTimeoutError` inside the running job when its soft limit passes.

    While installed it owns SIGALRM and the real-time interval timer; a timer that was
    pending before is re-armed with its remaining time on :meth:`restore`.
    """

    def __init__(self) -> None:
        self.available = hasattr(signal, "setitimer") and in_main_thread()
        self._armed = False
        self._seconds = 0.0
        self._previous: _Handler = None
        self._installed = False
        self._previous_timer: tuple[tuple[float, float], float] = ((0.0, 0.0), 0.0)

    def install(self) -> None:
        """Take over SIGALRM (main thread only; a no-op elsewhere)."""
        if self.available and not self._installed:
            self._previous_timer = signal.getitimer(signal.ITIMER_REAL), time.monotonic()
            self._previous = signal.signal(signal.SIGALRM, self._fire)
            self._installed = True

    def restore(self) -> None:
        """Disarm and give SIGALRM back to its previous handler."""
        if self._installed:
            self.disarm()
            signal.signal(signal.SIGALRM, self._previous or signal.SIG_DFL)
            self._installed = False
            (delay, interval), since = self._previous_timer
            if delay > 0:  # someone else's timer was pending: re-arm what is left of it
                signal.setitimer(signal.ITIMER_REAL, max(delay - (time.monotonic() - since), 0.001), interval)

    def arm(self, seconds: float) -> None:
        """Raise JobTimeoutError in the main thread after ``seconds`` (no-op when 0 or unavailable)."""
        if self._installed and seconds > 0:
            self._seconds = seconds
            self._armed = True
            signal.setitimer(signal.ITIMER_REAL, seconds)

    def disarm(self) -> None:
        """Cancel a pending alarm."""
        if self._armed:
            self._armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _fire(self, signum: int, frame: FrameType | None) -> None:
        if self._armed:
            self._armed = False
            raise JobTimeoutError(f"the job ran longer than its timeout of {self._seconds:g} s")


class StopSignals:
    """Turns SIGTERM and SIGINT into a call of ``on_stop(signum)`` instead of killing the process."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, on_stop: Callable[[int], None]) -> None:
        self.on_stop = on_stop
        self._previous: dict[int, _Handler] = {}

    def install(self) -> None:
        """Install the handlers (main thread only; a no-op elsewhere)."""
        if not in_main_thread():
            return
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        """Put the previous handlers back."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.on_stop(signum)
