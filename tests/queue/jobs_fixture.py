"""Importable test jobs, an in-memory Queue double and a fake clock for the queue-core tests.

The jobs live in a module (not in test functions) so payloads can name them as
``jobs_fixture:Name`` — also from a worker subprocess started with this directory on
``PYTHONPATH``. Jobs that run in-process record into :data:`CALLS`; jobs meant for
subprocesses append lines to the file named by ``data['log']``.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from freight.errors import JobTimeoutError, QueueConnectionError
from freight.manager import clock_of
from freight.queue.drivers.base import Queue, ReservedJob
from freight.queue.job import Job
from freight.queue.manager import QueueManager

#: (job name, data, attempts) of every handle() call of an in-process job
CALLS: list[tuple[str, dict[str, Any], int]] = []
#: exceptions passed to failed() hooks, by job name
FAILED_HOOKS: list[tuple[str, str]] = []
#: set to let :class:`Stubborn` return
RELEASE = threading.Event()


def reset() -> None:
    """Forget every recorded call."""
    CALLS.clear()
    FAILED_HOOKS.clear()
    RELEASE.clear()


class Recorded(Job):
    """Base of the in-process jobs: records each call and each failed() hook."""

    def handle(self) -> None:
        CALLS.append((type(self).__name__, dict(self.data), self.attempts))
        self.work()

    def work(self) -> None:
        """The job's body."""

    def failed(self, exc: BaseException) -> None:
        FAILED_HOOKS.append((type(self).__name__, f"{type(exc).__name__}: {exc}"))


class Noop(Recorded):
    """Does nothing."""


class Boom(Recorded):
    """Always raises ValueError."""

    def work(self) -> None:
        raise ValueError(f"boom on attempt {self.attempts}")


class BoomTwice(Recorded):
    """Raises on its first two attempts, then succeeds."""

    backoff = 0

    def work(self) -> None:
        if self.attempts <= 2:
            raise RuntimeError("not yet")


class Listed(Recorded):
    """Raises every time; backoff from a list."""

    tries = 4
    backoff = [1, 5, 30]

    def work(self) -> None:
        raise ValueError("listed")


class Curved(Recorded):
    """Raises every time; backoff from a method."""

    tries = 3

    def backoff(self, attempt: int) -> float:  # type: ignore[override]
        return attempt * 10.0

    def work(self) -> None:
        raise ValueError("curved")


class Deadline(Recorded):
    """Raises every time; stops retrying after 10 s."""

    retry_until = 10
    backoff = 4

    def work(self) -> None:
        raise ValueError("deadline")


class SelfRelease(Recorded):
    """Releases itself with a 7 s delay on its first attempt."""

    def work(self) -> None:
        if self.attempts == 1:
            self.release(7)


class SelfFail(Recorded):
    """Fails itself for good (tries would allow more)."""

    tries = 5

    def work(self) -> None:
        self.fail(LookupError("gave up"))


class Sleepy(Recorded):
    """Sleeps ``data['seconds']`` (interruptible by the soft timeout)."""

    tries = 1
    timeout = 0.1

    def work(self) -> None:
        time.sleep(float(self.data.get("seconds", 5)))


class Slow(Recorded):
    """Sleeps ``data['seconds']`` with no timeout."""

    tries = 1
    timeout = 0

    def work(self) -> None:
        time.sleep(float(self.data["seconds"]))


class Stubborn(Recorded):
    """Ignores its soft timeout until :data:`RELEASE` is set (at most 5 s)."""

    tries = 1
    timeout = 0.05

    def work(self) -> None:
        deadline = time.monotonic() + 5
        while not RELEASE.is_set() and time.monotonic() < deadline:
            try:
                RELEASE.wait(0.01)
            except JobTimeoutError:
                pass


class Pusher(Recorded):
    """Pushes ``data['then']`` jobs (Noop) onto ``data['queue']`` of the current app's default."""

    def work(self) -> None:
        from freight.app import current_app

        for i in range(int(self.data.get("then", 1))):
            current_app().queue().push(Noop({"pushed": i}), self.data["queue"])


class Signals(Recorded):
    """Sends itself ``data['signal']`` then keeps working a little."""

    def work(self) -> None:
        import signal

        os.kill(os.getpid(), getattr(signal, self.data.get("signal", "SIGTERM")))
        time.sleep(0.02)


class NeedsEmail(Job):
    """A job with its own ``__init__``: the data must carry ``email``."""

    def __init__(self, email: str) -> None:
        super().__init__(email=email)

    def handle(self) -> None:
        CALLS.append(("NeedsEmail", dict(self.data), self.attempts))


class Emails(Job):
    """A job with class-level routing options."""

    queue = "emails"
    connection = "mem"
    delay = 5

    def handle(self) -> None:
        CALLS.append(("Emails", dict(self.data), self.attempts))


class NotAJob:
    """A class that is not a Job (a payload naming it must be refused)."""

    def handle(self) -> None:
        CALLS.append(("NotAJob", {}, 0))


def not_a_store(config: dict[str, Any], manager: Any) -> dict[str, Any]:
    """A failed-store factory returning something that is not a store."""
    return dict(config)


# -- jobs for worker subprocesses --------------------------------------------------------------
def _append(path: str, line: str) -> None:
    with open(path, "a") as fh:
        fh.write(line + "\n")


class Write(Job):
    """Appends ``data['line']`` to ``data['log']``."""

    tries = 2

    def handle(self) -> None:
        _append(self.data["log"], f"{self.data['line']} {self.attempts}")


class WriteOrFail(Job):
    """Raises on every attempt; its failed() hook appends to the log."""

    tries = 2
    backoff = 0

    def handle(self) -> None:
        _append(self.data["log"], f"attempt {self.attempts}")
        raise ValueError("always")

    def failed(self, exc: BaseException) -> None:
        _append(self.data["log"], f"failed {type(exc).__name__}")


class SlowWrite(Job):
    """Appends ``start``, waits for ``data['go']`` to exist (at most 10 s), appends ``done``."""

    def handle(self) -> None:
        _append(self.data["log"], "start")
        deadline = time.monotonic() + 10
        while not os.path.exists(self.data["go"]) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        _append(self.data["log"], "done")


# -- an in-memory queue and a fake clock ------------------------------------------------------------
class FakeClock:
    """A settable clock; ``sleep`` advances it instead of waiting."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if len(self.sleeps) > 1000:  # a worker test that would idle forever
            raise AssertionError("the worker idled 1000 times: its stop condition is never met")


@dataclass
class _Row:
    queue: str
    raw: str
    attempts: int
    available_at: float
    reserved_until: float | None = None


class MemoryQueue(Queue):
    """A Queue double: reservations with deadlines, an operation log, optional outages
    (the shipped ``memory`` driver is ``freight.queue.drivers.memory``)."""

    driver = "memory"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: dict[str, _Row] = {}
        self.ops: list[tuple[Any, ...]] = []
        self.down = 0  # the next ``down`` pops raise QueueConnectionError
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def push_raw(self, raw: str, queue: str, delay: float = 0) -> None:
        with self._lock:
            self.rows[str(next(self._ids))] = _Row(queue, raw, 0, self.clock() + delay)

    def pop_many(self, queue: str | None = None, limit: int = 1) -> list[ReservedJob]:
        jobs: list[ReservedJob] = []
        while len(jobs) < limit and (job := self.pop_one(queue)) is not None:
            jobs.append(job)
        return jobs

    def pop_one(self, queue: str | None = None) -> ReservedJob | None:
        """Reserve the first available job (raising while ``down``)."""
        name = self.queue_name(queue)
        with self._lock:
            if self.down:
                self.down -= 1
                raise QueueConnectionError("memory queue is down")
            now = self.clock()
            for id_, row in self.rows.items():
                free = row.reserved_until is None or row.reserved_until <= now
                if row.queue == name and row.available_at <= now and free:
                    row.attempts += 1
                    row.reserved_until = now + self.retry_after
                    self.ops.append(("pop", id_))
                    return ReservedJob(id_, name, row.raw, row.attempts, self.name)
        return None

    def ack(self, job: ReservedJob) -> None:
        with self._lock:
            self.ops.append(("ack", job.id))
            self.rows.pop(job.id, None)

    def release(self, job: ReservedJob, delay: float = 0) -> None:
        with self._lock:
            self.ops.append(("release", job.id, delay, job.attempts))
            row = self.rows[job.id]
            row.attempts, row.reserved_until = job.attempts, None
            row.available_at = self.clock() + delay

    def extend(self, job: ReservedJob, seconds: float | None = None) -> bool:
        with self._lock:
            self.ops.append(("extend", job.id))
            row = self.rows.get(job.id)
            if row is None or row.reserved_until is None:
                return False
            row.reserved_until = self.clock() + (self.retry_after if seconds is None else seconds)
            return True

    def size(self, queue: str | None = None) -> int:
        name = self.queue_name(queue)
        return sum(1 for row in self.rows.values() if row.queue == name)

    def clear(self, queue: str | None = None) -> int:
        name = self.queue_name(queue)
        with self._lock:
            gone = [i for i, row in self.rows.items() if row.queue == name]
            for i in gone:
                del self.rows[i]
        return len(gone)

    def released(self) -> list[tuple[float, int]]:
        """``(delay, attempts)`` of every release, in order."""
        return [(op[2], op[3]) for op in self.ops if op[0] == "release"]


class BatchMemoryQueue(MemoryQueue):
    """A MemoryQueue that acknowledges in batches."""

    batch_acks = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batches: list[int] = []

    def ack_many(self, jobs: Sequence[ReservedJob]) -> None:
        self.batches.append(len(jobs))
        for job in jobs:
            self.ack(job)


def memory_factory(cls: type[MemoryQueue] = MemoryQueue) -> Callable[[dict[str, Any], Any], MemoryQueue]:
    """A driver factory building ``cls`` from a connection config."""

    def create(config: dict[str, Any], manager: Any) -> MemoryQueue:
        return cls(
            name=config["name"],
            queue=config.get("queue", "default"),
            retry_after=config.get("retry_after", 90),
            key=config.get("key"),
            clock=clock_of(config, manager),
        )

    return create


def memory_manager(
    clock: Callable[[], float] = time.time,
    *,
    batch: bool = False,
    key: str | None = None,
    retry_after: float = 90,
    failed: dict[str, Any] | None = None,
) -> QueueManager:
    """A QueueManager whose default connection ``mem`` is a MemoryQueue (failed store: ``failed``)."""
    conn: dict[str, Any] = {"driver": "memory", "retry_after": retry_after}
    if key:
        conn["key"] = key
    manager = QueueManager(
        {"default": "mem", "connections": {"mem": conn}, "failed": failed or {"driver": "null"}},
        clock=clock,
    )
    manager.extend("memory", memory_factory(BatchMemoryQueue if batch else MemoryQueue))
    return manager
