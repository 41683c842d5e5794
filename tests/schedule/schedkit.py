"""Helpers of the schedule tests: a fake wall clock, an application on one store, a recorder."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from freight import Application
from freight.schedule import Scheduler, current_run


class FakeClock:
    """A wall clock that moves only when told to; used as the scheduler's clock and sleep."""

    def __init__(self, start: float) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def inline(fn: Callable[[], None], name: str) -> None:
    """A ``spawn`` that runs the run in the calling thread (simulations stay deterministic)."""
    fn()


class Recorder:
    """A scheduled callable that records the due time of each of its runs, by event name."""

    def __init__(self) -> None:
        self.dues: dict[str, list[int]] = {}
        self.guard = threading.Lock()

    def __call__(self) -> None:
        run = current_run()
        assert run is not None
        with self.guard:
            self.dues.setdefault(run.event.label, []).append(run.due)

    def count(self, name: str, start: float | None = None, end: float | None = None) -> int:
        """Runs of ``name`` due in ``(start, end]``."""
        return sum(
            1
            for due in self.dues.get(name, [])
            if (start is None or due > start) and (end is None or due <= end)
        )


def array_app(**schedule: Any) -> Application:
    """An application whose schedule keeps its state in an in-process array store."""
    config: dict[str, Any] = {"cache": {"default": "array"}}
    if schedule:
        config["schedule"] = schedule
    return Application(config)


def simulate(app: Application, start: float, end: float, *, max_wait: float = 3600.0) -> Scheduler:
    """Run ``app``'s schedule on a fake clock from ``start`` to ``end``, runs inline."""
    clock = FakeClock(start)
    scheduler = Scheduler(app.schedule(), clock=clock, spawn=inline, sleep=clock.sleep, max_wait=max_wait)
    scheduler.start()
    scheduler.run_forever(until=end)
    scheduler.tick(end)
    return scheduler
