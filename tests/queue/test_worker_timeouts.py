"""The worker's real-time machinery: soft timeout, hard-timeout watchdog, heartbeat, signals.

These use the real clock with sub-second limits (about a second of waiting in total).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
from jobs_fixture import (
    CALLS,
    RELEASE,
    FakeClock,
    MemoryQueue,
    Noop,
    Recorded,
    Signals,
    Sleepy,
    Slow,
    Stubborn,
    memory_manager,
    reset,
)

from freight.queue.drivers.base import ReservedJob
from freight.queue.manager import QueueManager
from freight.queue.monitor import Monitor
from freight.queue.runner import Running
from freight.queue.signals import Alarm
from freight.queue.worker import EXIT_HARD_TIMEOUT, EXIT_OK, Worker

needs_alarm = pytest.mark.skipif(not Alarm().available, reason="SIGALRM needs the main thread on POSIX")


@pytest.fixture(autouse=True)
def _calls() -> Iterator[None]:
    reset()
    yield
    reset()


@pytest.fixture
def manager() -> QueueManager:
    return memory_manager(failed={"driver": "redis", "client": fakeredis.FakeRedis()})


def queue_of(manager: QueueManager) -> MemoryQueue:
    queue = manager.connection()
    assert isinstance(queue, MemoryQueue)
    return queue


@needs_alarm
def test_the_soft_timeout_raises_inside_the_job_and_the_worker_carries_on(manager: QueueManager) -> None:
    """Sleepy (timeout 0.1 s, tries 1) is interrupted by JobTimeoutError and failed; the next job runs."""
    before = signal.getsignal(signal.SIGALRM)
    manager.push(Sleepy(seconds=5))
    manager.push(Noop(n=1))
    assert Worker(manager, memory=0, stop_when_empty=True).run() == EXIT_OK
    assert [c[0] for c in CALLS] == ["Sleepy", "Noop"]
    [record] = manager.failed().all()
    assert "JobTimeoutError: the job ran longer than its timeout of 0.1 s" in record.exception
    assert signal.getsignal(signal.SIGALRM) == before  # given back (pytest-timeout uses it too)


@needs_alarm
def test_the_worker_timeout_applies_to_jobs_without_one(manager: QueueManager) -> None:
    """--timeout 0.05 interrupts a job that sets no timeout (Noop subclasses set none)."""
    manager.push(Recorded())
    manager.push(Sleepy(seconds=0.01))  # its own 0.1 s timeout is enough
    assert Worker(manager, memory=0, stop_when_empty=True, timeout=0.05).run() == EXIT_OK
    assert manager.failed().all() == []


def test_the_watchdog_records_a_stuck_job_and_exits_with_its_code(manager: QueueManager) -> None:
    """A job ignoring its timeout past the grace: failed (tries 1), prefetched jobs returned, exit 3."""
    exits: list[int] = []

    def fake_exit(code: int) -> None:
        exits.append(code)
        RELEASE.set()  # let the stuck job return, as os._exit would have ended it

    manager.push(Stubborn())
    manager.bulk([Noop(n=i) for i in range(3)])
    w = Worker(manager, memory=0, stop_when_empty=True, grace=0.05, exit_fn=fake_exit)
    w._prefetch = 4
    assert w.run() == EXIT_HARD_TIMEOUT
    assert exits == [EXIT_HARD_TIMEOUT]
    assert [c[0] for c in CALLS] == ["Stubborn"]
    [record] = manager.failed().all()
    assert "did not stop within 0.05 s" in record.exception
    queue = queue_of(manager)
    assert queue.size() == 3
    assert all(row.attempts == 0 and row.reserved_until is None for row in queue.rows.values())


def test_the_heartbeat_keeps_a_long_job_reserved() -> None:
    """retry_after 0.15 s, a 0.4 s job: its reservation is extended, nobody else can pop it."""
    manager = memory_manager(retry_after=0.15, failed={"driver": "null"})
    queue = queue_of(manager)
    seen: list[ReservedJob | None] = []
    manager.push(Slow(seconds=0.4))
    timer = threading.Timer(0.35, lambda: seen.append(queue.pop()))  # another worker
    timer.start()
    assert Worker(manager, memory=0, stop_when_empty=True).run() == EXIT_OK
    timer.join()
    assert seen == [None]
    assert ("extend", "1") in queue.ops
    assert queue.size() == 0


def test_the_monitor_extends_held_jobs_every_interval() -> None:
    """A held job is extended once it has gone ``interval`` unrenewed, counting from the tick
    before it was first seen; jobs let go are forgotten."""
    clock = FakeClock()
    queue = MemoryQueue(clock=clock, retry_after=9)
    queue.push_raw("{}", "default")
    job = queue.pop()
    assert job is not None
    held: list[ReservedJob] = []
    monitor = Monitor(queue, lambda: held, lambda: None, lambda running: None, interval=3, clock=clock)
    assert monitor.poll == 0.25
    clock.now += 1
    monitor.tick(clock.now)  # not held yet
    held.append(job)
    clock.now += 1
    monitor.tick(clock.now)  # seen: counted as reserved at the previous tick (t=1)
    clock.now += 1
    monitor.tick(clock.now)
    assert queue.ops == [("pop", "1")]
    clock.now += 1  # t=4: 3 s since t=1
    monitor.tick(clock.now)
    assert queue.ops[-1] == ("extend", "1")
    assert queue.rows["1"].reserved_until == clock.now + 9
    clock.now += 2
    assert monitor.beat(clock.now) == 0
    clock.now += 1
    assert monitor.beat(clock.now) == 1
    held.clear()
    clock.now += 10
    assert monitor.beat(clock.now) == 0


def test_the_monitor_fires_the_watchdog_at_the_hard_deadline() -> None:
    """on_overrun is called once the running job passes started + timeout + grace."""
    clock = FakeClock()
    fired: list[Running] = []
    running = Running(
        ReservedJob("1", "q", "{}", 1),
        Noop(),
        "x:Noop",
        "u",
        {},
        1,
        True,
        None,
        2.0,
        clock.now,
        clock.now + 7,
    )
    monitor = Monitor(MemoryQueue(clock=clock), list, lambda: running, fired.append, interval=30, clock=clock)
    clock.now += 6.9
    monitor.tick(clock.now)
    assert fired == []
    clock.now += 0.2
    monitor.tick(clock.now)
    assert fired == [running]


@pytest.mark.skipif(not Alarm().available, reason="signal handlers need the main thread")
@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_stop_signal_finishes_the_job_and_returns_prefetched_ones(manager: QueueManager, name: str) -> None:
    """SIGTERM/SIGINT during a job: it completes and is acked; unstarted reserved jobs go back
    with their attempt un-counted; exit 0; the previous handlers are restored."""
    before = signal.getsignal(getattr(signal, name))
    manager.push(Signals(signal=name))
    manager.bulk([Noop(n=i) for i in range(3)])
    w = Worker(manager, memory=0, stop_when_empty=True)
    w._prefetch = 4
    assert w.run() == EXIT_OK
    assert w.stop_reason == f"signal {int(getattr(signal, name))}"
    assert [c[0] for c in CALLS] == ["Signals"]
    queue = queue_of(manager)
    assert queue.size() == 3
    assert all(row.attempts == 0 and row.reserved_until is None for row in queue.rows.values())
    assert signal.getsignal(getattr(signal, name)) == before


def test_stop_from_another_thread_interrupts_the_idle_sleep(manager: QueueManager) -> None:
    """worker.stop() while idle returns within about 0.1 s, not after --sleep."""
    w = Worker(manager, memory=0, sleep=30)
    threading.Timer(0.1, w.stop).start()
    started = time.monotonic()
    assert w.run() == EXIT_OK
    assert time.monotonic() - started < 2


def test_alarm_is_inert_outside_the_main_thread() -> None:
    """Arming in a worker thread does nothing (no SIGALRM outside the main thread)."""
    result: dict[str, Any] = {}

    def probe() -> None:
        alarm = Alarm()
        alarm.install()
        alarm.arm(0.01)
        result["available"] = alarm.available
        alarm.restore()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    assert result == {"available": False}


@needs_alarm
def test_alarm_restores_a_timer_that_was_pending() -> None:
    """An interval timer armed before the worker (e.g. pytest-timeout's) is re-armed afterwards."""
    previous = signal.signal(signal.SIGALRM, lambda *args: None)
    saved = signal.setitimer(signal.ITIMER_REAL, 100)
    try:
        alarm = Alarm()
        alarm.install()
        alarm.arm(50)
        alarm.disarm()
        alarm.restore()
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 99 < remaining <= 100
    finally:
        signal.setitimer(signal.ITIMER_REAL, *saved)
        signal.signal(signal.SIGALRM, previous)
