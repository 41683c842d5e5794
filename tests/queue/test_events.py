"""QueueManager events: pushed, processing, processed, retrying, failed, in their documented order.

The ``processed`` event of a job comes after its ack (batched or not) and after its DONE
line; ``failed`` after the failed-store record, the ``failed()`` hook and the ack.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
from jobs_fixture import FAILED_HOOKS, Boom, FakeClock, MemoryQueue, Noop, memory_manager, reset

from freight.queue.events import EVENTS, JobEvent
from freight.queue.manager import QueueManager
from freight.queue.worker import Worker


@pytest.fixture(autouse=True)
def _calls() -> Iterator[None]:
    reset()
    yield
    reset()


def worker(manager: QueueManager, clock: FakeClock, **options: Any) -> Worker:
    options.setdefault("stop_when_empty", True)
    options.setdefault("memory", 0)
    return Worker(manager, clock=clock, sleep_fn=clock.sleep, rand=lambda: 0.5, **options)


def test_pushed_fires_for_push_later_and_bulk_with_the_job_and_its_id() -> None:
    """Every way of pushing emits ``pushed`` once per job, after the payload is stored."""
    clock = FakeClock()
    manager = memory_manager(clock)
    seen: list[JobEvent] = []
    queue = manager.connection()
    manager.on("pushed", lambda e: seen.append(e) or queue.size(e.queue))
    first = manager.push(Noop(n=1))
    later = manager.connection().later(30, Noop(n=2), "slow")
    many = manager.bulk([Noop(n=3), Noop(n=4)])
    assert [e.job_id for e in seen] == [first, later, *many]
    assert [(e.queue, e.delay, e.attempts) for e in seen] == [
        ("default", 0.0, 0),
        ("slow", 30.0, 0),
        ("default", 0.0, 0),
        ("default", 0.0, 0),
    ]
    assert all(e.event == "pushed" and e.job_class.endswith(":Noop") for e in seen)
    assert [e.instance.data["n"] for e in seen if e.instance is not None] == [1, 2, 3, 4]


@pytest.mark.parametrize("batch", [False, True])
def test_worker_events_follow_the_ack_and_the_log_line(batch: bool, caplog: pytest.LogCaptureFixture) -> None:
    """processed is emitted once the job is deleted and its DONE line written (batched acks too);
    failed once it is recorded, its failed() hook ran and it is deleted."""
    caplog.set_level(logging.INFO, "freight.worker")
    clock = FakeClock()
    manager = memory_manager(clock, batch=batch, failed={"driver": "redis", "client": fakeredis.FakeRedis()})
    queue = manager.connection()
    assert isinstance(queue, MemoryQueue)
    seen: list[tuple[str, str, bool, int, int]] = []

    def record(event: JobEvent) -> None:
        in_queue = any(row.raw and event.job_id in row.raw for row in queue.rows.values())
        lines = sum(event.job_id in r.getMessage() for r in caplog.records)
        seen.append((event.event, event.job_class.split(":")[1], in_queue, lines, len(FAILED_HOOKS)))
        assert event.payload is not None and event.payload["uuid"] == event.job_id

    for name in EVENTS[1:]:
        manager.on(name, record)
    manager.bulk([Noop(n=1), Noop(n=2)])
    manager.push(Boom())
    worker(manager, clock, tries=2, backoff=0).run()
    assert sorted(seen) == sorted(
        [
            ("processing", "Noop", True, 0, 0),
            ("processing", "Noop", True, 0, 0),
            ("processed", "Noop", False, 1, 0),
            ("processed", "Noop", False, 1, 0),
            ("processing", "Boom", True, 0, 0),
            ("retrying", "Boom", True, 1, 0),
            ("processing", "Boom", True, 1, 0),
            ("failed", "Boom", False, 2, 1),
        ]
    )
    boom = [event for event, job, *_ in seen if job == "Boom"]
    assert boom == ["processing", "retrying", "processing", "failed"]


def test_worker_on_registers_on_the_managers_events() -> None:
    """Worker.on and QueueManager.on share one set of listeners; unknown names are refused."""
    clock = FakeClock()
    manager = memory_manager(clock)
    seen: list[str] = []
    worker(manager, clock).on("processed", lambda e: seen.append("worker"))
    manager.on("processed", lambda e: seen.append("manager"))
    manager.push(Noop())
    worker(manager, clock).run()
    assert seen == ["worker", "manager"]
    with pytest.raises(ValueError, match="unknown queue event 'done'"):
        manager.on("done", print)


def test_no_listener_means_no_event_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without listeners neither pushing nor running builds a JobEvent (the hot path stays bare)."""
    clock = FakeClock()
    manager = memory_manager(clock, batch=True)

    def boom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a JobEvent was built with no listener")

    monkeypatch.setattr("freight.queue.drivers.base.JobEvent", boom)
    monkeypatch.setattr("freight.queue.outcomes.JobEvent", boom)
    manager.bulk([Noop(n=i) for i in range(3)])
    worker(manager, clock).run()
    assert manager.connection().size() == 0
