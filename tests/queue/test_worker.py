"""The Worker against an in-memory queue and a fake clock: outcomes, retries, failures, limits.

Each test builds a QueueManager whose connection ``mem`` is a MemoryQueue and whose
failed-job store is fakeredis, so nothing waits: the worker's idle sleep advances the
fake clock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
from jobs_fixture import (
    CALLS,
    FAILED_HOOKS,
    Boom,
    BoomTwice,
    Curved,
    Deadline,
    FakeClock,
    Listed,
    MemoryQueue,
    NeedsEmail,
    Noop,
    Pusher,
    SelfFail,
    SelfRelease,
    memory_manager,
    reset,
)

from freight.app import Application
from freight.errors import QueueConnectionError
from freight.queue import payload as payloads
from freight.queue.failed import FailedJobStore
from freight.queue.manager import QueueManager
from freight.queue.runner import JobEvent
from freight.queue.worker import EXIT_MEMORY, EXIT_OK, Worker


@pytest.fixture(autouse=True)
def _calls() -> Iterator[None]:
    reset()
    yield
    reset()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def manager(clock: FakeClock) -> QueueManager:
    """The default connection ``mem`` in memory; failed jobs in fakeredis."""
    return memory_manager(clock, failed={"driver": "redis", "client": fakeredis.FakeRedis()})


def queue_of(manager: QueueManager) -> MemoryQueue:
    queue = manager.connection()
    assert isinstance(queue, MemoryQueue)
    return queue


def worker(manager: QueueManager, clock: FakeClock, **options: Any) -> Worker:
    options.setdefault("stop_when_empty", True)
    options.setdefault("memory", 0)  # the test process itself may be over any default limit
    return Worker(manager, clock=clock, sleep_fn=clock.sleep, rand=lambda: 0.5, **options)


def failed(manager: QueueManager) -> FailedJobStore:
    return manager.failed()


def test_jobs_run_once_each_and_are_acknowledged(
    manager: QueueManager, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Every job runs with attempts=1 and its id, is acked, and logs one DONE line."""
    ids = manager.bulk([Noop(n=i) for i in range(3)])
    caplog.set_level(logging.INFO, "freight.worker")
    assert worker(manager, clock).run() == EXIT_OK
    assert CALLS == [("Noop", {"n": i}, 1) for i in range(3)]
    assert queue_of(manager).size() == 0
    done = [r.getMessage() for r in caplog.records if r.getMessage().endswith("DONE")]
    assert [line.split()[:2] for line in done] == [["jobs_fixture:Noop", i] for i in ids]


def test_a_failing_job_is_retried_then_failed_once(manager: QueueManager, clock: FakeClock) -> None:
    """tries=None -> 3 attempts with the default backoff, then the failed store and failed() once."""
    manager.push(Boom(n=1))
    w = worker(manager, clock, stop_when_empty=False, max_jobs=3)
    assert w.run() == EXIT_OK
    assert [c[2] for c in CALLS] == [1, 2, 3]
    assert queue_of(manager).released() == [(1.0, 1), (2.0, 2)]  # exponential, jitter at midpoint
    [record] = failed(manager).all()
    assert record.job_class == "jobs_fixture:Boom"
    assert "ValueError: boom on attempt 3" in record.exception
    assert "Traceback" in record.exception
    assert (record.connection, record.queue) == ("mem", "default")
    assert FAILED_HOOKS == [("Boom", "ValueError: boom on attempt 3")]
    assert queue_of(manager).size() == 0


def test_a_job_that_succeeds_on_a_retry_is_done(manager: QueueManager, clock: FakeClock) -> None:
    """BoomTwice (backoff 0) runs three times and ends acknowledged, not failed."""
    manager.push(BoomTwice())
    assert worker(manager, clock).run() == EXIT_OK
    assert [c[2] for c in CALLS] == [1, 2, 3]
    assert failed(manager).all() == [] and FAILED_HOOKS == []


@pytest.mark.parametrize(
    ("job", "expected"),
    [(Listed(), [(1.0, 1), (5.0, 2), (30.0, 3)]), (Curved(), [(10.0, 1), (20.0, 2)])],
)
def test_backoff_sequence_follows_the_jobs_policy(
    manager: QueueManager, clock: FakeClock, job: Any, expected: list[tuple[float, int]]
) -> None:
    """A list policy is indexed by attempt; a backoff method receives the attempt."""
    manager.push(job)
    worker(manager, clock, stop_when_empty=False, max_jobs=job.tries).run()
    assert queue_of(manager).released() == expected
    assert len(failed(manager).all()) == 1


def test_worker_options_apply_only_to_jobs_that_set_none(manager: QueueManager, clock: FakeClock) -> None:
    """--tries 2 --backoff 9 shape Boom; Listed keeps its own tries=4 and list backoff."""
    manager.push(Boom())
    manager.push(Listed())
    worker(manager, clock, stop_when_empty=False, max_jobs=6, tries=2, backoff=9).run()
    boom = [c[2] for c in CALLS if c[0] == "Boom"]
    listed = [c[2] for c in CALLS if c[0] == "Listed"]
    assert (boom, listed) == ([1, 2], [1, 2, 3, 4])
    assert (9.0, 1) in queue_of(manager).released()


def test_retry_until_stops_retries_at_the_deadline(manager: QueueManager, clock: FakeClock) -> None:
    """retry_until=10 with backoff 4: attempts at t=0, 4, 8; a retry at 12 would pass the deadline."""
    manager.push(Deadline())
    worker(manager, clock, stop_when_empty=False, max_jobs=3, sleep=4).run()
    assert [c[2] for c in CALLS] == [1, 2, 3]  # default tries (3) do not apply with retry_until
    [record] = failed(manager).all()
    assert "deadline" in record.exception


def test_a_job_past_retry_until_fails_without_running(manager: QueueManager, clock: FakeClock) -> None:
    """A job reserved after its deadline is failed with MaxAttemptsExceededError, not run."""
    manager.push(Deadline())
    clock.now += 11
    worker(manager, clock).run()
    assert CALLS == []
    assert "MaxAttemptsExceededError" in failed(manager).all()[0].exception
    assert FAILED_HOOKS == [
        (
            "Deadline",
            "MaxAttemptsExceededError: jobs_fixture:Deadline is past its retry_until deadline; not run again",
        )
    ]


def test_a_redelivered_job_over_its_tries_fails_without_running(
    manager: QueueManager, clock: FakeClock
) -> None:
    """A job whose earlier workers died reaches attempts > tries: it fails, never runs a 4th time."""
    manager.push(Noop())
    queue = queue_of(manager)
    for _ in range(3):  # three reservations that were never finished
        assert queue.pop() is not None
        clock.now += queue.retry_after + 1
    worker(manager, clock).run()
    assert CALLS == []
    [record] = failed(manager).all()
    assert "attempted 4 times, more than its 3 tries" in record.exception


def test_self_release_puts_the_job_back_with_its_delay(manager: QueueManager, clock: FakeClock) -> None:
    """self.release(7) inside handle: released with 7 s, runs again as attempt 2, then done."""
    manager.push(SelfRelease())
    worker(manager, clock, stop_when_empty=False, max_jobs=2, sleep=4).run()
    assert queue_of(manager).released() == [(7.0, 1)]
    assert [c[2] for c in CALLS] == [1, 2]
    assert queue_of(manager).size() == 0


def test_self_fail_fails_for_good_at_once(manager: QueueManager, clock: FakeClock) -> None:
    """self.fail(exc): no retry although tries=5; the given exception is recorded; failed() once."""
    manager.push(SelfFail())
    worker(manager, clock).run()
    assert len(CALLS) == 1
    assert "LookupError: gave up" in failed(manager).all()[0].exception
    assert FAILED_HOOKS == [("SelfFail", "LookupError: gave up")]


def bad_payloads() -> dict[str, tuple[str, str]]:
    """name -> (raw payload, text its failure reason contains)."""
    good = payloads.build(Noop(), "default", 0.0)

    def variant(**fields: Any) -> str:
        return payloads.dumps({**good, **fields})

    return {
        "not json": ("{oops", "not valid JSON"),
        "unknown module, one try": (variant(job="no_such_module_xyz:Job", max_tries=1), "cannot import"),
        "unknown class": (variant(job="jobs_fixture:Nope"), "does not exist"),
        "not a job": (variant(job="jobs_fixture:NotAJob"), "not a freight Job"),
        "os.system": (variant(job="os:system"), "not a freight Job"),
        "data it cannot take": (
            variant(job="jobs_fixture:NeedsEmail", data={"name": "x"}),
            "cannot be built",
        ),
        "bad timeout": (variant(timeout="soon"), "payload field 'timeout'"),
    }


def test_bad_payloads_go_to_the_failed_store_and_the_worker_carries_on(
    manager: QueueManager, clock: FakeClock
) -> None:
    """Each bad payload is failed with its reason; the good job after them still runs."""
    queue = queue_of(manager)
    bad = bad_payloads()
    for raw, _ in bad.values():
        queue.push_raw(raw, "default")
    manager.push(NeedsEmail(email="a@example.com"))
    assert worker(manager, clock).run() == EXIT_OK
    assert CALLS == [("NeedsEmail", {"email": "a@example.com"}, 1)]
    records = {r.payload: r for r in failed(manager).all()}
    for name, (raw, reason) in bad.items():
        assert reason in records[raw].exception, name
    assert queue.size() == 0 and FAILED_HOOKS == []


def test_a_connection_with_a_key_refuses_unsigned_and_tampered_payloads(clock: FakeClock) -> None:
    """With a signing key, unsigned and tampered payloads fail with the reason; signed ones run."""
    manager = memory_manager(
        clock, key="secret-secret-secret", failed={"driver": "redis", "client": fakeredis.FakeRedis()}
    )
    queue = queue_of(manager)
    manager.push(Noop(n=1))
    signed = next(iter(queue.rows.values())).raw
    queue.push_raw(payloads.dumps(payloads.build(Noop(), "default", 0.0)), "default")
    queue.push_raw(signed.replace('"n":1', '"n":2'), "default")
    worker(manager, clock).run()
    assert CALLS == [("Noop", {"n": 1}, 1)]
    reasons = sorted(r.summary for r in manager.failed().all())
    assert any("not signed" in r for r in reasons) and any("does not match" in r for r in reasons)


def test_hooks_see_processing_processed_retrying_and_failed(manager: QueueManager, clock: FakeClock) -> None:
    """Plain callables receive a JobEvent per event; a raising hook does not disturb the worker."""
    events: list[tuple[str, str, int, float | None]] = []
    manager.push(Noop())
    manager.push(Boom(), "default")
    w = worker(manager, clock, tries=2, backoff=0, stop_when_empty=False, max_jobs=3)

    def record(event: JobEvent) -> None:
        events.append((event.event, event.job_class.split(":")[1], event.attempts, event.delay))

    for name in ("processing", "processed", "retrying", "failed"):
        w.on(name, record)
    w.on("processed", lambda event: 1 / 0)
    w.run()
    assert events == [
        ("processing", "Noop", 1, None),
        ("processed", "Noop", 1, None),
        ("processing", "Boom", 1, None),
        ("retrying", "Boom", 1, 0.0),
        ("processing", "Boom", 2, None),
        ("failed", "Boom", 2, None),
    ]
    with pytest.raises(ValueError, match="unknown queue event"):
        w.on("finished", record)


def test_connection_errors_while_popping_are_retried_with_backoff(
    manager: QueueManager, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Two failed pops: the worker logs, waits 0.5 s then 1 s, and resumes with the job."""
    manager.push(Noop())
    queue_of(manager).down = 2
    assert worker(manager, clock).run() == EXIT_OK
    assert clock.sleeps == [0.5, 1.0]
    assert len(CALLS) == 1
    assert sum("unreachable" in r.getMessage() for r in caplog.records) == 2


def test_an_unreachable_failed_store_keeps_the_job(manager: QueueManager, clock: FakeClock) -> None:
    """When the failure cannot be recorded the job is released for later; failed() is not called."""
    manager.push(SelfFail())
    store = manager.failed()

    def down(*args: Any) -> str:
        raise QueueConnectionError("failed store down")

    store.log = down  # type: ignore[method-assign]
    worker(manager, clock).run()
    assert FAILED_HOOKS == []
    assert queue_of(manager).released() == [(60.0, 1)]
    assert queue_of(manager).size() == 1


def test_max_jobs_once_and_max_time_stop_the_worker(manager: QueueManager, clock: FakeClock) -> None:
    """--once runs one job, --max-jobs N runs N, --max-time stops after the job that crossed it."""
    manager.bulk([Noop(n=i) for i in range(6)])
    assert worker(manager, clock, once=True).run() == EXIT_OK
    assert len(CALLS) == 1
    w = worker(manager, clock, max_jobs=2)
    w.run()
    assert (len(CALLS), w.stop_reason) == (3, "--max-jobs 2 reached")
    w = worker(manager, clock, max_time=1, stop_when_empty=False)
    clock_start = clock.now
    w.on("processed", lambda event: setattr(clock, "now", clock_start + 2))
    w.run()
    assert (len(CALLS), w.stop_reason) == (4, "--max-time 1s reached")
    assert queue_of(manager).size() == 2
    assert all(row.attempts == 0 for row in queue_of(manager).rows.values())


def test_the_memory_limit_exits_with_its_code_after_the_current_job(
    manager: QueueManager, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over --memory the worker finishes the job, returns prefetched ones and exits 4."""
    readings = iter([100.0, 129.0])
    monkeypatch.setattr("freight.queue.worker.resident_mb", lambda: next(readings))
    manager.bulk([Noop(n=i) for i in range(5)])
    w = worker(manager, clock, memory=128)
    w._prefetch = 5
    assert w.run() == EXIT_MEMORY
    assert w.stop_reason == "memory 129 MiB over the limit of 128 MiB"
    assert len(CALLS) == 1
    assert queue_of(manager).size() == 4
    assert all(row.attempts == 0 and row.reserved_until is None for row in queue_of(manager).rows.values())


def test_a_worker_started_over_the_limit_counts_growth(
    manager: QueueManager, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Embedded in a process already at 300 MiB, --memory 128 stops it only past 428 MiB."""
    readings = iter([300.0, 420.0, 429.0])
    monkeypatch.setattr("freight.queue.worker.resident_mb", lambda: next(readings))
    manager.bulk([Noop(n=i) for i in range(3)])
    w = worker(manager, clock, memory=128)
    w.on("processed", lambda event: setattr(clock, "now", clock.now + 1.5))  # one check per job
    assert w.run() == EXIT_MEMORY
    assert len(CALLS) == 2


def test_queues_are_checked_in_strict_priority_order(manager: QueueManager, clock: FakeClock) -> None:
    """high is drained before low, and a high job pushed meanwhile runs before the next low job."""
    app = Application(
        {
            "queue": {
                "default": "mem",
                "connections": {"mem": {"driver": "memory"}},
                "failed": {"driver": "null"},
            }
        }
    )
    app._queue = manager
    try:
        manager.push(Pusher(n="pusher", queue="high", then=1), "low")
        manager.push(Noop(n="low-1"), "low")
        manager.push(Noop(n="low-2"), "low")
        manager.push(Noop(n="high-1"), "high")
        worker(manager, clock, queues="high,low", prefetch=1).run()
    finally:
        app.close()
    order = [c[1].get("n", f"pushed-{c[1].get('pushed')}") for c in CALLS]
    assert order == ["high-1", "pusher", "pushed-0", "low-1", "low-2"]


def test_prefetch_grows_and_acks_are_batched(clock: FakeClock) -> None:
    """Quick jobs: the batch doubles up to the maximum and acks go out in batches."""
    manager = memory_manager(clock, batch=True)
    manager.bulk([Noop(n=i) for i in range(40)])
    w = worker(manager, clock, prefetch=16)
    w.run()
    queue = queue_of(manager)
    assert len(CALLS) == 40 and queue.size() == 0
    assert queue.batches[:5] == [1, 2, 4, 8, 16]  # type: ignore[attr-defined]
    assert w._prefetch == 16


def test_tries_zero_means_no_limit(manager: QueueManager, clock: FakeClock) -> None:
    """--tries 0 retries a job that sets no tries for as long as the worker runs."""
    manager.push(Boom())
    worker(manager, clock, stop_when_empty=False, max_jobs=6, tries=0, backoff=0).run()
    assert [c[2] for c in CALLS] == [1, 2, 3, 4, 5, 6]
    assert failed(manager).all() == [] and queue_of(manager).size() == 1
