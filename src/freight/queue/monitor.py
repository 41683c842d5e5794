"""The worker's one long-lived helper thread: reservation heartbeat and hard-timeout watchdog.

* **Heartbeat**: every ``poll`` seconds it looks at the jobs the worker holds (the
  running one, prefetched ones, ones awaiting a batched ack) and extends the
  reservation of each one not renewed for ``interval`` seconds (a third of the
  connection's ``retry_after``), so no held job's reservation lapses while the worker
  lives.
* **Watchdog**: when the running job passes its hard deadline (timeout + grace), it
  calls ``on_overrun(running)``; the worker records the attempt and exits.

No thread is started per job: the worker only publishes what it holds.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable

from freight.queue.drivers.base import Queue, ReservedJob
from freight.queue.runner import Running

__all__ = ["Monitor", "resident_mb"]

log = logging.getLogger("freight.worker")


class Monitor:
    """Heartbeat and watchdog for one worker, run in a daemon thread."""

    def __init__(
        self,
        queue: Queue,
        held: Callable[[], Iterable[ReservedJob]],
        current: Callable[[], Running | None],
        on_overrun: Callable[[Running], None],
        *,
        interval: float,
        poll: float = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.queue = queue
        self.held = held
        self.current = current
        self.on_overrun = on_overrun
        self.interval = max(0.05, interval)
        self.poll = max(0.01, min(poll, self.interval / 2))
        self.clock = clock
        self._renewed: dict[str, float] = {}
        self._last_tick = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._loop, name="freight-worker-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (unless called from it)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.tick(self.clock())
            except Exception:  # the monitor must outlive any one failure
                log.exception("worker monitor failed; continuing")

    def tick(self, now: float) -> None:
        """One round: fire the watchdog if the running job is past its hard deadline, then beat."""
        running = self.current()
        if running is not None and not running.settled and now >= running.hard_deadline:
            self.on_overrun(running)
        self.beat(now)

    def beat(self, now: float) -> int:
        """Extend every held job not renewed for ``interval`` seconds; returns how many were extended.

        A job first seen now counts as reserved at the previous tick (it was not held
        before that), so no reservation goes unrenewed for more than about
        ``interval + 2 * poll`` (two thirds of ``retry_after`` at most).
        """
        try:
            held = tuple(self.held())
        except RuntimeError:  # the worker changed its buffer while we copied it; next tick
            return 0
        renewed: dict[str, float] = {}
        extended = 0
        for job in held:
            since = self._renewed.get(job.id, self._last_tick)
            if now - since >= self.interval:
                try:
                    self.queue.extend(job)
                    since = now
                    extended += 1
                except Exception as exc:
                    log.warning(
                        "cannot extend the reservation of job %s on %s: %s", job.id, self.queue.name, exc
                    )
            renewed[job.id] = since
        self._renewed = renewed
        self._last_tick = now
        return extended


def resident_mb() -> float:
    """This process's resident memory in MiB (peak RSS where the current value is unavailable)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1048576
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1048576 if sys.platform == "darwin" else peak / 1024
