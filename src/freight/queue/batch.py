"""Batches: many jobs dispatched together, counted as they finish, with then/catch/finally jobs.

``Batch([...]).name("import").then(Done()).catch(Alert()).finally_(Cleanup())
.allow_failures().dispatch()`` stores the batch's state in the connection's own backend
(a redis hash, a ``job_batches`` row, or process memory for the memory and sync
drivers) and pushes its jobs with the batch id in their payloads. As jobs finish for
good, the worker counts them (each job, or the members of one batch of acks together)
with ONE atomic, idempotent operation (a Lua script, or an INSERT of the counted ids and
one ``UPDATE ... RETURNING`` in one transaction); the caller whose update makes
``pending`` reach 0 dispatches ``then`` and ``finally``, and the one whose update makes
``failed`` leave 0 dispatches ``catch``, so each callback is pushed exactly once,
whichever workers finish last.

Counts: ``total`` jobs, ``pending`` (not finished), ``failed`` (failed for good),
``processed`` = ``total - pending - failed`` (succeeded). The first failure cancels the
batch unless ``allow_failures()``; jobs of a cancelled batch still run (check
``self.batch().cancelled`` in ``handle()``) and are counted, so the batch finishes.
``then`` runs when the batch finished without failures (or with them, if allowed) and was
not cancelled; ``finally`` always runs once when it finished.
"""

from __future__ import annotations

import json
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from freight.current import current_app
from freight.errors import QueueError
from freight.queue import payload as payloads

if TYPE_CHECKING:
    from freight.queue.drivers.base import Queue
    from freight.queue.job import Job

__all__ = ["Batch", "BatchRepository", "BatchState", "MemoryBatches", "Tally"]

CALLBACKS = ("then", "catch", "finally")


@dataclass(slots=True)
class BatchState:
    """A batch as stored: its counters, times and callback payloads."""

    id: str
    name: str = ""
    total: int = 0
    pending: int = 0
    failed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    cancelled_at: float | None = None
    finished_at: float | None = None

    def options_json(self) -> str:
        """The options as stored (callback payloads, allow_failures, connection)."""
        return json.dumps(self.options, separators=(",", ":"))


@dataclass(slots=True, frozen=True)
class Tally:
    """What one recorded job changed: the counts after it, and which transitions it made."""

    pending: int
    failed: int
    first_failure: bool
    finished: bool


class BatchRepository(ABC):
    """Where a connection keeps its batches; every counter change is one atomic operation."""

    @abstractmethod
    def create(self, state: BatchState) -> None:
        """Store a new batch."""

    @abstractmethod
    def find(self, batch_id: str) -> BatchState | None:
        """The batch ``batch_id``, or None."""

    @abstractmethod
    def add_jobs(self, batch_id: str, count: int) -> None:
        """Count ``count`` more jobs (total and pending), atomically."""

    @abstractmethod
    def record(self, batch_id: str, job_ids: Sequence[str], failed: bool, now: float) -> Tally | None:
        """Count the jobs ``job_ids`` as finished (failed for good when ``failed``) in one atomic
        operation; None when nothing was counted (the batch is gone or finished, or, where the
        backend remembers counted ids, every one of them was counted before)."""

    @abstractmethod
    def cancel(self, batch_id: str, now: float) -> None:
        """Mark the batch cancelled (once)."""

    @abstractmethod
    def recent(self, limit: int = 50) -> list[BatchState]:
        """The newest batches first."""

    @abstractmethod
    def prune(self, before: float) -> int:
        """Delete finished batches that finished before ``before``; return how many."""

    def close(self) -> None:
        """Release connections."""


class MemoryBatches(BatchRepository):
    """Batches in this process's memory (the memory and sync drivers), guarded by one lock."""

    def __init__(self) -> None:
        self._batches: dict[str, BatchState] = {}
        self._lock = threading.Lock()

    def create(self, state: BatchState) -> None:
        """Store a copy of ``state``."""
        with self._lock:
            self._batches[state.id] = replace(state, options=dict(state.options))

    def find(self, batch_id: str) -> BatchState | None:
        """A copy of the batch, or None."""
        with self._lock:
            found = self._batches.get(batch_id)
            return None if found is None else replace(found)

    def add_jobs(self, batch_id: str, count: int) -> None:
        """Count more jobs."""
        with self._lock:
            state = self._batches[batch_id]
            state.total += count
            state.pending += count

    def record(self, batch_id: str, job_ids: Sequence[str], failed: bool, now: float) -> Tally | None:
        """Count finished jobs under the lock."""
        count = len(job_ids)
        with self._lock:
            state = self._batches.get(batch_id)
            if state is None or count == 0 or state.pending < count:
                return None
            state.pending -= count
            first = False
            if failed:
                first = state.failed == 0
                state.failed += count
                if first and not state.options.get("allow_failures") and state.cancelled_at is None:
                    state.cancelled_at = now
            if state.pending == 0:
                state.finished_at = now
            return Tally(state.pending, state.failed, first, state.pending == 0)

    def cancel(self, batch_id: str, now: float) -> None:
        """Mark cancelled."""
        with self._lock:
            state = self._batches.get(batch_id)
            if state is not None and state.cancelled_at is None:
                state.cancelled_at = now

    def recent(self, limit: int = 50) -> list[BatchState]:
        """Newest first."""
        with self._lock:
            states = sorted(self._batches.values(), key=lambda s: s.created_at, reverse=True)
            return [replace(s) for s in states[:limit]]

    def prune(self, before: float) -> int:
        """Drop finished batches."""
        with self._lock:
            old = [
                k for k, s in self._batches.items() if s.finished_at is not None and s.finished_at < before
            ]
            for key in old:
                del self._batches[key]
            return len(old)


class Batch:
    """Build and dispatch a batch; once dispatched (or found), its state and controls."""

    def __init__(self, jobs: Iterable[Job] = ()) -> None:
        self.jobs: list[Job] = list(jobs)
        self.id = ""
        self.state = BatchState("")
        self._label = ""
        self._callbacks: dict[str, Job] = {}
        self._allow_failures = False
        self._queue: Queue | None = None

    # -- building ---------------------------------------------------------------------------
    def name(self, value: str | None = None) -> Any:
        """Name the batch (returns self), or with no argument, its name."""
        if value is None:
            return self.state.name or self._label
        self._label = value
        return self

    def then(self, job: Job) -> Batch:
        """Push ``job`` once when every job finished (none failed, or failures allowed)."""
        self._callbacks["then"] = job
        return self

    def catch(self, job: Job) -> Batch:
        """Push ``job`` once, on the batch's first failure."""
        self._callbacks["catch"] = job
        return self

    def finally_(self, job: Job) -> Batch:
        """Push ``job`` once when the batch finished, whatever happened."""
        self._callbacks["finally"] = job
        return self

    def allow_failures(self, allow: bool = True) -> Batch:
        """Let the batch go on after a job failed (by default the first failure cancels it)."""
        self._allow_failures = allow
        return self

    def dispatch(self, connection: Queue | None = None) -> Batch:
        """Store the batch and push its jobs on ``connection`` (default: the current
        Application's default connection); returns self, now with an ``id``."""
        if connection is None:
            connection = current_app().queue().connection()
        now = connection.clock()
        self.id = os.urandom(16).hex()
        options: dict[str, Any] = {"allow_failures": self._allow_failures}
        for kind, job in self._callbacks.items():
            options[kind] = callback_payload(job, connection, self.id, kind, now)
        empty = not self.jobs
        self.state = BatchState(self.id, self._label, 0, 0, 0, options, now, None, now if empty else None)
        self._queue = connection
        connection.batches().create(replace(self.state))
        if empty:  # nothing will ever finish: it is finished now
            push_callbacks(connection, self.state, ("then", "finally"))
        self.add(self.jobs)
        return self.fresh()

    # -- a dispatched batch -----------------------------------------------------------------
    def add(self, jobs: Iterable[Job]) -> Batch:
        """Add jobs to a dispatched batch (from one of its running jobs, so it cannot finish
        meanwhile); they are counted before they are pushed."""
        queue = self._bound()
        jobs = [job for job in jobs if queue.claim_unique(job)]  # a dropped unique job is not counted
        if not jobs:
            return self
        for job in jobs:
            job.extra_payload = {**(job.extra_payload or {}), "batch": {"id": self.id}}
        queue.batches().add_jobs(self.id, len(jobs))
        queue.bulk(jobs)
        return self

    def cancel(self) -> None:
        """Mark the batch cancelled: its jobs see ``self.batch().cancelled``."""
        queue = self._bound()
        queue.batches().cancel(self.id, queue.clock())

    def fresh(self) -> Batch:
        """This batch with its state read again from the backend."""
        queue = self._bound()
        state = queue.batches().find(self.id)
        if state is None:
            raise QueueError(f"batch {self.id} no longer exists on connection {queue.name!r} (pruned?)")
        return Batch.bound(queue, state)

    @classmethod
    def bound(cls, queue: Queue, state: BatchState) -> Batch:
        """A dispatched batch of ``queue`` in the given state."""
        batch = cls()
        batch.id, batch.state, batch._queue = state.id, state, queue
        return batch

    def _bound(self) -> Queue:
        if self._queue is None or not self.id:
            raise QueueError("this batch has not been dispatched yet; call dispatch() first")
        return self._queue

    # -- state ------------------------------------------------------------------------------
    @property
    def total(self) -> int:
        """Jobs in the batch."""
        return self.state.total

    @property
    def pending(self) -> int:
        """Jobs not finished yet."""
        return self.state.pending

    @property
    def failed(self) -> int:
        """Jobs that failed for good."""
        return self.state.failed

    @property
    def processed(self) -> int:
        """Jobs that succeeded."""
        return self.state.total - self.state.pending - self.state.failed

    @property
    def progress(self) -> int:
        """Finished jobs (succeeded or failed) as a whole percentage of the total."""
        total = self.state.total
        return 100 if total == 0 else (total - self.state.pending) * 100 // total

    @property
    def finished(self) -> bool:
        """True once every job finished."""
        return self.state.finished_at is not None

    @property
    def cancelled(self) -> bool:
        """True once cancelled (by cancel() or a failure without allow_failures)."""
        return self.state.cancelled_at is not None

    @property
    def created_at(self) -> float:
        """Unix time of dispatch."""
        return self.state.created_at

    @property
    def finished_at(self) -> float | None:
        """Unix time the last job finished, or None."""
        return self.state.finished_at

    @property
    def cancelled_at(self) -> float | None:
        """Unix time of cancellation, or None."""
        return self.state.cancelled_at

    def __repr__(self) -> str:
        return (
            f"<Batch {self.id or '(not dispatched)'} {self.name()!r} {self.processed}/{self.total} "
            f"failed={self.failed} finished={self.finished} cancelled={self.cancelled}>"
        )


def callback_payload(job: Job, queue: Queue, batch_id: str, kind: str, now: float) -> dict[str, Any]:
    """The payload dict of a then/catch/finally job of batch ``batch_id``."""
    job.extra_payload = {**(job.extra_payload or {}), "batch": {"id": batch_id, "callback": kind}}
    return payloads.build(job, job.queue or queue.default_queue, now)


def push_callbacks(queue: Queue, state: BatchState, kinds: Iterable[str]) -> None:
    """Push the stored ``kinds`` callback jobs of a batch (the ones it has)."""
    for kind in kinds:
        payload = state.options.get(kind)
        if payload is not None:
            queue.push_raw(payloads.dumps(payload, queue.signer), str(payload.get("queue")), 0)


def settle(queue: Queue, batch_id: str, job_ids: Sequence[str], failed: bool) -> None:
    """Count finished member jobs of a batch (one atomic operation) and push the callbacks the
    count made due."""
    batches = queue.batches()
    tally = batches.record(batch_id, job_ids, failed, queue.clock())
    if tally is None or not (tally.finished or tally.first_failure):
        return
    state = batches.find(batch_id)
    if state is None:
        return
    due = []
    if tally.first_failure:
        due.append("catch")
    if tally.finished:
        ok = state.failed == 0 or state.options.get("allow_failures")
        if ok and state.cancelled_at is None:
            due.append("then")
        due.append("finally")
    push_callbacks(queue, state, due)
