"""What the scheduler keeps in the cache store: claims, overlap locks, last runs, missed runs.

Keys (under the store's prefix), ``<key>`` being :attr:`Event.key`:

* ``schedule:claim:<key>:<due>``: the claim of one due time, written with ``add`` (one
  atomic write: redis ``SET NX EX``, an insert under a unique key on SQL, memcached
  ``add``, a write under the shard's file lock on the file store). It lives :data:`CLAIM_TTL` seconds.
* ``schedule:overlap:<key>``: the ``without_overlapping`` lock (a cache lock with an owner).
* ``schedule:last:<key>`` and ``schedule:missed:<key>``: the last run and the last missed
  due times, kept forever, so schedule:list and the dashboard show them from any machine.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from freight.cache.lock import Lock
    from freight.cache.repository import Repository
    from freight.schedule.events import Event

__all__ = ["CLAIM_TTL", "ScheduleState"]

#: seconds a claim is kept: longer than any lateness a scheduler may still act on (its grace,
#: at most 60 s) plus the clock skew between machines
CLAIM_TTL = 3600

_HOST = f"{socket.gethostname()}:{os.getpid()}"


class ScheduleState:
    """Claims, locks and run records of a schedule in one cache repository."""

    def __init__(self, cache: Repository, clock: Any = time.time) -> None:
        self.cache = cache
        self.clock = clock

    def claim(self, event: Event, due: int) -> bool:
        """Claim ``due`` for ``event`` in one atomic write; True for the one scheduler that wins."""
        return self.cache.add(f"schedule:claim:{event.key}:{due}", _HOST, CLAIM_TTL)

    def overlap_lock(self, event: Event) -> Lock:
        """The lock that keeps two runs of ``event`` from overlapping."""
        return self.cache.lock(f"schedule:overlap:{event.key}", event.overlap_expires or 0)

    def started(self, event: Event, due: int) -> None:
        """Record that a run of ``event`` due at ``due`` started here."""
        self.cache.forever(
            f"schedule:last:{event.key}",
            {"event": event.label, "due": due, "started": self.clock(), "finished": None,
             "outcome": "running", "detail": "", "host": _HOST},
        )  # fmt: skip

    def finished(self, event: Event, due: int, started: float, outcome: str, detail: str) -> None:
        """Record the end of a run: ``outcome`` is ``ok`` or ``failed``."""
        self.cache.forever(
            f"schedule:last:{event.key}",
            {"event": event.label, "due": due, "started": started, "finished": self.clock(),
             "outcome": outcome, "detail": detail, "host": _HOST},
        )  # fmt: skip

    def missed(self, event: Event, last_due: int, count: int, caught_up: bool) -> None:
        """Record missed due times of ``event`` (the latest, and how many)."""
        self.cache.forever(
            f"schedule:missed:{event.key}",
            {"event": event.label, "due": last_due, "count": count, "caught_up": caught_up,
             "noticed": self.clock(), "host": _HOST},
        )  # fmt: skip

    def last(self, event: Event) -> dict[str, Any] | None:
        """The last run of ``event`` recorded by any scheduler, or None."""
        value = self.cache.get(f"schedule:last:{event.key}")
        return value if isinstance(value, dict) else None

    def last_missed(self, event: Event) -> dict[str, Any] | None:
        """The last missed due times of ``event``, or None."""
        value = self.cache.get(f"schedule:missed:{event.key}")
        return value if isinstance(value, dict) else None

    def cursor(self, event: Event) -> int | None:
        """The latest due time of ``event`` that any scheduler ran or reported missed, or None."""
        seen = [
            r["due"]
            for r in (self.last(event), self.last_missed(event))
            if r and isinstance(r.get("due"), int)
        ]
        return max(seen) if seen else None
