"""The worker's reconnect policy: retry a queue operation while its connection is down."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from freight.errors import QueueConnectionError

__all__ = ["RECONNECT_CAP", "Reconnect"]

log = logging.getLogger("freight.worker")
T = TypeVar("T")

#: the longest pause between attempts to reach a connection that is down
RECONNECT_CAP = 30.0


class Reconnect:
    """Calls ``fn()``, retrying after 0.5 s, 1 s, 2 s ... (capped) on :class:`QueueConnectionError`.

    It gives up (re-raises) only once ``stopping()`` is true, so a stop signal ends the wait.
    """

    def __init__(
        self,
        name: str,
        stopping: Callable[[], bool],
        sleep: Callable[[float], Any],
        cap: float = RECONNECT_CAP,
    ) -> None:
        self.name = name
        self.stopping = stopping
        self.sleep = sleep
        self.cap = cap

    def __call__(self, fn: Callable[[], T]) -> T:
        """``fn()``, retried while the connection is unreachable and the worker is not stopping."""
        delay = 0.5
        while True:
            try:
                return fn()
            except QueueConnectionError as exc:
                if self.stopping():
                    raise
                log.warning("connection %s is unreachable (%s); retrying in %gs", self.name, exc, delay)
                self.sleep(delay)
                delay = min(delay * 2, self.cap)
