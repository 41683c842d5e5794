"""The contract of ``wait()``: an idle worker sleeps on the backend, and wakes in time.

These tests spend real time (a few tenths of a second each); the fake clock stays
frozen so "due in 0.3 s" means 0.3 s of the driver's own reckoning. Upper bounds are
generous (the servers are shared with other busy test runs) but far below the
10-second timeouts, so a wait that ignored its wake-up would still fail.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import TYPE_CHECKING

from queuekit import capable

from freight.queue.drivers.base import Queue

#: only drivers whose wait() returns on a push (``wakes_on_push``) wake a waiting worker at once
blocking = capable("wakes_on_push")

if TYPE_CHECKING:
    from conftest import FakeClock


def raw() -> str:
    return json.dumps({"uuid": uuid.uuid4().hex, "job": "tests:Nothing", "data": {}})


def timed_wait(queue: Queue, queues: list[str], timeout: float) -> float:
    started = time.monotonic()
    queue.wait(queues, timeout)
    return time.monotonic() - started


def test_wait_returns_at_once_when_a_job_is_ready(queue: Queue) -> None:
    """A ready job means no waiting at all."""
    queue.push_raw(raw(), queue.default_queue)
    assert timed_wait(queue, [queue.default_queue], 10) < 3


def test_wait_on_an_empty_queue_lasts_the_timeout(queue: Queue) -> None:
    """Nothing to do: wait() returns after about ``timeout`` seconds."""
    elapsed = timed_wait(queue, [queue.default_queue], 0.25)
    assert 0.2 <= elapsed < 3


def test_a_delayed_job_falling_due_ends_the_wait(queue: Queue, clock: FakeClock) -> None:
    """A waiting worker wakes when a delayed job falls due, long before the timeout."""
    queue.push_raw(raw(), queue.default_queue, delay=0.3)
    elapsed = timed_wait(queue, [queue.default_queue], 10)
    assert 0.2 <= elapsed < 5
    clock.advance(0.3)
    assert queue.pop() is not None


def test_an_expiring_reservation_ends_the_wait(queue: Queue, clock: FakeClock) -> None:
    """A reservation about to expire wakes a waiting worker so the job is redelivered."""
    queue.push_raw(raw(), queue.default_queue)
    job = queue.pop()
    assert job is not None and queue.extend(job, 0.3)
    elapsed = timed_wait(queue, [queue.default_queue], 10)
    assert 0.2 <= elapsed < 5
    clock.advance(0.3)
    again = queue.pop()
    assert again is not None and again.attempts == 2


def test_wait_watches_every_queue_given(queue: Queue) -> None:
    """A job ready on the second queue of a priority list also ends the wait."""
    other = queue.default_queue + "-low"
    queue.push_raw(raw(), other)
    assert timed_wait(queue, [queue.default_queue, other], 10) < 3
    queue.clear(other)


@blocking
def test_a_push_wakes_a_blocked_worker(queue: Queue) -> None:
    """On drivers that block on the server, a push ends the wait at once."""
    timer = threading.Timer(0.2, lambda: queue.push_raw(raw(), queue.default_queue))
    timer.start()
    try:
        elapsed = timed_wait(queue, [queue.default_queue], 10)
    finally:
        timer.join()
    assert 0.15 <= elapsed < 5
    assert queue.pop() is not None


@blocking
def test_a_push_on_a_lower_queue_ends_the_wait_too(queue: Queue) -> None:
    """Waiting on several queues, a push on any of them ends the wait well before the timeout."""
    other = queue.default_queue + "-low"
    timer = threading.Timer(0.2, lambda: queue.push_raw(raw(), other))
    timer.start()
    try:
        elapsed = timed_wait(queue, [queue.default_queue, other], 10)
    finally:
        timer.join()
    assert 0.15 <= elapsed < 5
    assert queue.pop(other) is not None
    queue.clear(other)
