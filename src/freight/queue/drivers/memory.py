"""The ``memory`` queue driver: the queue contract in process memory, for tests and local runs.

Jobs live in this process only and are lost when it exits; a worker running in the
same process (a thread, or ``Worker(...).run()`` in a test) sees them. Otherwise it
behaves like the redis and database drivers, and runs through the same contract suite:
reservations expire after ``retry_after`` and are redelivered with their attempts
counted, delays are honoured against the driver's ``clock``, a stale ack, release or
extend (from a worker whose reservation expired and was handed out again) changes
nothing, and one lock makes every operation atomic across threads. An idle worker
blocks in :meth:`MemoryQueue.wait` until a push, or until a delayed job or an expiring
reservation falls due (``wakes_on_push``).

Per queue: a deque of ready ids, a heap of delayed ids by available-at, and a heap of
reservation deadlines (an entry superseded by an ack, release or extend is skipped
when it reaches the top).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from freight.manager import clock_of
from freight.queue.drivers.base import Queue, ReservedJob
from freight.queue.payload import is_job

__all__ = ["MemoryQueue", "create"]


@dataclass(slots=True)
class _Entry:
    raw: str
    attempts: int = 0
    #: reservation number while reserved, 0 otherwise (a stale ReservedJob carries an older one)
    token: int = 0
    deadline: float = 0.0


@dataclass(slots=True)
class _Lane:
    """The jobs of one queue."""

    entries: dict[str, _Entry] = field(default_factory=dict)
    ready: deque[str] = field(default_factory=deque)
    delayed: list[tuple[float, int, str]] = field(default_factory=list)
    reserved: list[tuple[float, int, str]] = field(default_factory=list)


class MemoryQueue(Queue):
    """Jobs in process memory, with reservations, delays and redelivery; thread-safe."""

    driver: ClassVar[str] = "memory"
    #: jobs do not survive this process
    persistent: ClassVar[bool] = False
    #: a push wakes a worker blocked in wait() at once
    wakes_on_push: ClassVar[bool] = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lanes: dict[str, _Lane] = {}
        self._seq = itertools.count(1)
        self._changed = threading.Condition(threading.Lock())

    def _lane(self, queue: str) -> _Lane:
        lane = self._lanes.get(queue)
        if lane is None:
            lane = self._lanes[queue] = _Lane()
        return lane

    # -- primitives -----------------------------------------------------------------------
    def push_raw(self, raw: str, queue: str, delay: float = 0) -> None:
        """Store one payload on ``queue``, available after ``delay`` seconds."""
        with self._changed:
            self._store(raw, queue, delay, self.clock())
            self._changed.notify_all()

    def push_raw_many(self, items: Sequence[tuple[str, str, float]]) -> None:
        """Store many ``(raw, queue, delay)`` payloads at once."""
        with self._changed:
            now = self.clock()
            for raw, queue, delay in items:
                self._store(raw, queue, delay, now)
            self._changed.notify_all()

    def _store(self, raw: str, queue: str, delay: float, now: float) -> None:
        lane = self._lane(queue)
        seq = next(self._seq)
        job_id = str(seq)
        lane.entries[job_id] = _Entry(raw)
        if delay > 0:
            heapq.heappush(lane.delayed, (now + delay, seq, job_id))
        else:
            lane.ready.append(job_id)

    def pop_many(self, queue: str | None = None, limit: int = 1) -> list[ReservedJob]:
        """Reserve up to ``limit`` jobs from ``queue``: due delayed jobs and expired
        reservations join the ready ones first, in the order they fell due."""
        name = self.queue_name(queue)
        with self._changed:
            lane = self._lanes.get(name)
            if lane is None or limit < 1:
                return []
            now = self.clock()
            self._migrate(lane, now)
            deadline = now + self.retry_after
            jobs: list[ReservedJob] = []
            while lane.ready and len(jobs) < limit:
                job_id = lane.ready.popleft()
                entry = lane.entries[job_id]
                entry.attempts += 1
                entry.token = next(self._seq)
                entry.deadline = deadline
                heapq.heappush(lane.reserved, (deadline, entry.token, job_id))
                extra = {"token": entry.token}
                jobs.append(ReservedJob(job_id, name, entry.raw, entry.attempts, self.name, extra))
            return jobs

    def _migrate(self, lane: _Lane, now: float) -> None:
        """Due delayed jobs, then expired reservations, move to the tail of the ready list."""
        while lane.delayed and lane.delayed[0][0] <= now:
            lane.ready.append(heapq.heappop(lane.delayed)[2])
        while lane.reserved and lane.reserved[0][0] <= now:
            deadline, token, job_id = heapq.heappop(lane.reserved)
            entry = lane.entries.get(job_id)
            if entry is not None and entry.token == token and entry.deadline == deadline:
                entry.token = 0  # the reservation lapsed: its holder's ack/release is stale now
                lane.ready.append(job_id)

    def _held(self, job: ReservedJob) -> tuple[_Lane, _Entry] | None:
        """The lane and entry of ``job`` while this very reservation holds it, else None."""
        lane = self._lanes.get(job.queue)
        entry = lane.entries.get(job.id) if lane is not None else None
        if lane is None or entry is None or entry.token == 0 or entry.token != job.extra.get("token"):
            return None
        return lane, entry

    def ack(self, job: ReservedJob) -> None:
        """Delete a reserved job; a stale reservation changes nothing."""
        with self._changed:
            held = self._held(job)
            if held is not None:
                del held[0].entries[job.id]

    def ack_many(self, jobs: Sequence[ReservedJob]) -> None:
        """Delete many reserved jobs under one lock."""
        with self._changed:
            for job in jobs:
                held = self._held(job)
                if held is not None:
                    del held[0].entries[job.id]

    def release(self, job: ReservedJob, delay: float = 0) -> None:
        """Put a reserved job back with ``job.attempts``: at the head of the ready list, or
        delayed; a stale reservation changes nothing."""
        with self._changed:
            held = self._held(job)
            if held is None:
                return
            lane, entry = held
            entry.attempts, entry.token = job.attempts, 0
            if delay > 0:
                heapq.heappush(lane.delayed, (self.clock() + delay, next(self._seq), job.id))
            else:
                lane.ready.appendleft(job.id)
            self._changed.notify_all()

    def extend(self, job: ReservedJob, seconds: float | None = None) -> bool:
        """Move the reservation deadline to now + ``seconds`` (default ``retry_after``); False
        when this reservation no longer holds the job."""
        with self._changed:
            held = self._held(job)
            if held is None:
                return False
            lane, entry = held
            entry.deadline = self.clock() + (self.retry_after if seconds is None else seconds)
            heapq.heappush(lane.reserved, (entry.deadline, entry.token, job.id))
            return True

    def cancel_raw(self, job_id: str) -> str | None:
        """Remove the waiting (ready or delayed, not reserved) job whose uuid is ``job_id``."""
        with self._changed:
            for lane in self._lanes.values():
                for key, entry in lane.entries.items():
                    if entry.token == 0 and is_job(entry.raw, job_id):
                        del lane.entries[key]
                        if key in lane.ready:
                            lane.ready.remove(key)
                        lane.delayed = [item for item in lane.delayed if item[2] != key]
                        heapq.heapify(lane.delayed)
                        return entry.raw
        return None

    def size(self, queue: str | None = None) -> int:
        """Ready + delayed + reserved jobs on ``queue``."""
        with self._changed:
            lane = self._lanes.get(self.queue_name(queue))
            return len(lane.entries) if lane is not None else 0

    def clear(self, queue: str | None = None) -> int:
        """Delete every job on ``queue``; return how many were deleted."""
        with self._changed:
            lane = self._lanes.pop(self.queue_name(queue), None)
            return len(lane.entries) if lane is not None else 0

    # -- blocking -------------------------------------------------------------------------
    def wait(self, queues: Sequence[str], timeout: float, sleep: Callable[[float], Any] = time.sleep) -> None:
        """Block until a push, a delayed job or an expiring reservation of ``queues`` falls due,
        or ``timeout`` seconds pass."""
        names = list(queues) or [self.default_queue]
        with self._changed:
            block = timeout
            now = self.clock()
            for name in names:
                lane = self._lanes.get(name)
                if lane is None:
                    continue
                if lane.ready:
                    return
                for heap in (lane.delayed, lane.reserved):
                    if heap:
                        block = min(block, heap[0][0] - now)
            if block > 0:
                self._changed.wait(block)


def create(config: dict[str, Any], manager: Any = None) -> MemoryQueue:
    """The factory registered as the ``memory`` queue driver: ``queue``, ``retry_after``, ``key``."""
    return MemoryQueue(
        name=str(config.get("name") or "memory"),
        queue=str(config.get("queue") or "default"),
        retry_after=float(config.get("retry_after", 90)),
        key=config.get("key"),
        clock=clock_of(config, manager),
    )
