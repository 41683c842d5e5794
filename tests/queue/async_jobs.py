"""Importable ``async def handle()`` jobs for the async worker tests (also from a subprocess).

In-process jobs record into :data:`RAN` and track how many run at once in :data:`PEAK`;
subprocess jobs append lines to the file named by ``data['log']``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from freight.queue.job import Job

#: (job name, data, attempts) of every finished handle() call of an in-process job
RAN: list[tuple[str, dict[str, Any], int]] = []
#: the running count now, and the highest it reached, per kind ("async" / "sync")
NOW: dict[str, int] = {"async": 0, "sync": 0}
PEAK: dict[str, int] = {"async": 0, "sync": 0}


def reset() -> None:
    """Forget every recorded run."""
    RAN.clear()
    NOW.update({"async": 0, "sync": 0})
    PEAK.update({"async": 0, "sync": 0})


def _enter(kind: str) -> None:
    NOW[kind] += 1
    PEAK[kind] = max(PEAK[kind], NOW[kind])


class Nap(Job):
    """Sleeps ``data['sleep']`` seconds (default 0.1) without blocking the loop."""

    async def handle(self) -> None:
        _enter("async")
        try:
            await asyncio.sleep(self.data.get("sleep", 0.1))
        finally:
            NOW["async"] -= 1
        RAN.append(("Nap", dict(self.data), self.attempts))


class SyncNap(Job):
    """A sync job beside the async ones: sleeps ``data['sleep']`` (default 0.02) in the worker thread."""

    def handle(self) -> None:
        _enter("sync")
        try:
            time.sleep(self.data.get("sleep", 0.02))
        finally:
            NOW["sync"] -= 1
        RAN.append(("SyncNap", dict(self.data), self.attempts))


class FlakyAsync(Job):
    """Raises on its first two attempts, then succeeds."""

    tries = 3
    backoff = 0

    async def handle(self) -> None:
        await asyncio.sleep(0)
        if self.attempts <= 2:
            raise RuntimeError(f"not yet ({self.attempts})")
        RAN.append(("FlakyAsync", dict(self.data), self.attempts))


class Hangs(Job):
    """Awaits far longer than its 0.2 s timeout: cancelled on each of its 2 tries."""

    tries = 2
    backoff = 0
    timeout = 0.2

    async def handle(self) -> None:
        RAN.append(("Hangs-start", {}, self.attempts))
        await asyncio.sleep(30)


class AsyncLog(Job):
    """Appends ``start``, awaits ``data['sleep']`` seconds, appends ``done`` (subprocess tests)."""

    async def handle(self) -> None:
        with open(self.data["log"], "a", encoding="utf-8") as f:
            f.write(f"start {self.data['n']}\n")
        await asyncio.sleep(self.data["sleep"])
        with open(self.data["log"], "a", encoding="utf-8") as f:
            f.write(f"done {self.data['n']}\n")
