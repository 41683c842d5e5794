"""Chains, batches, unique jobs, middleware and cancellation on every queue backend.

A worker runs in this process on the fake clock (``stop_when_empty``), so delays are
crossed with ``clock.advance`` and nothing sleeps. Batch state lives in each backend
(redis hashes, a batches table per test on SQL); unique locks and limiters in a cache
store on the same backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import fakeredis
import pytest
import workflow_jobs as jobs
from workflow_jobs import (
    Broken,
    BrokenUnique,
    Catch,
    FailingMember,
    Finally,
    Limited,
    Member,
    Recalc,
    RecalcUntilProcessing,
    Skipped,
    Step,
    Then,
    Throttled,
    Wrapped,
)

from freight import Batch, Chain
from freight.queue.drivers.base import Queue
from freight.queue.manager import QueueManager
from freight.queue.worker import Worker

if TYPE_CHECKING:
    from conftest import FakeClock


@pytest.fixture(autouse=True)
def _records() -> Iterator[None]:
    jobs.RAN.clear()
    jobs.SEEN.clear()
    yield
    jobs.RAN.clear()
    jobs.SEEN.clear()


def _drop_sql(url: str, *tables: str) -> None:
    import sqlalchemy as sa

    from freight.connections import sql_engine

    with sql_engine({"url": url}).begin() as conn:
        for table in tables:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))


@pytest.fixture
def manager(
    queue_kind: str, queue_config: Callable[..., dict[str, Any]], clock: FakeClock
) -> Iterator[QueueManager]:
    """A manager whose default connection is the backend under test, on the fake clock."""
    config = queue_config(queue_kind)
    if config["driver"] == "database":
        config["batch_table"] = f"{config['table']}_batches"
    manager = QueueManager(
        {
            "default": queue_kind,
            "connections": {queue_kind: config},
            "failed": {"driver": "redis", "client": fakeredis.FakeRedis()},
        },
        clock=clock,
    )
    yield manager
    manager.purge()
    if config["driver"] == "database" and queue_kind != "sqlite":
        table = config["table"]
        _drop_sql(
            config["url"], f"{table}_batches", f"{table}_batches_done", f"{table}_cache", f"{table}_locks"
        )


@pytest.fixture
def queue(manager: QueueManager) -> Queue:
    return manager.connection()


def work(manager: QueueManager, clock: FakeClock) -> int:
    """Run a worker until every queue is empty (or only delayed jobs are left)."""
    worker = Worker(manager, stop_when_empty=True, memory=0, clock=clock, sleep_fn=lambda s: None)
    worker.run()
    return worker.processed


# -- chains ------------------------------------------------------------------------------
def test_a_chain_runs_in_order(queue: Queue, manager: QueueManager, clock: FakeClock) -> None:
    first = Chain([Step(n=1), Step(n=2), Step(n=3)]).catch(Catch(n="c")).dispatch(queue)
    assert isinstance(first, str)
    assert queue.size() == 1, "the rest of the chain travels in the first job's payload"
    work(manager, clock)
    assert jobs.RAN == [("Step", 1), ("Step", 2), ("Step", 3)]
    assert queue.size() == 0


def test_a_failing_step_stops_the_chain_and_runs_catch_once(
    queue: Queue, manager: QueueManager, clock: FakeClock
) -> None:
    Chain([Step(n=1), Broken(n=2), Step(n=3)]).catch(Catch(n="c")).dispatch(queue)
    work(manager, clock)
    clock.advance(1)
    work(manager, clock)
    assert jobs.RAN == [("Step", 1), ("Broken", 2), ("Broken", 2), ("Catch", "c")]
    assert manager.failed().count() == 1
    assert queue.size() == 0


# -- batches -----------------------------------------------------------------------------
def test_a_batch_counts_its_jobs_and_runs_then_and_finally_once(
    queue: Queue, manager: QueueManager, clock: FakeClock
) -> None:
    batch = (
        Batch([Member(n=i) for i in range(5)])
        .name("import")
        .then(Then(n="t"))
        .catch(Catch(n="c"))
        .finally_(Finally(n="f"))
        .dispatch(queue)
    )
    assert (batch.total, batch.pending, batch.processed, batch.progress) == (5, 5, 0, 0)
    assert batch.name() == "import" and not batch.finished and batch.created_at == clock.now
    work(manager, clock)
    found = queue.find_batch(batch.id)
    assert found is not None
    assert (found.total, found.pending, found.processed, found.failed, found.progress) == (5, 0, 5, 0, 100)
    assert found.finished and not found.cancelled and found.finished_at is not None
    callbacks = [name for name, _ in jobs.RAN if name in ("Then", "Catch", "Finally")]
    assert callbacks == ["Then", "Finally"]
    assert {seen[1] for seen in jobs.SEEN} == {batch.id}, "each job saw its batch"
    assert manager.find_batch(batch.id) is not None


def test_a_failure_cancels_the_batch_and_runs_catch_once(
    queue: Queue, manager: QueueManager, clock: FakeClock
) -> None:
    members = [Member(n=0), FailingMember(n=1), FailingMember(n=2), Member(n=3)]
    batch = Batch(members).then(Then()).catch(Catch()).finally_(Finally()).dispatch(queue)
    work(manager, clock)
    found = batch.fresh()
    assert (found.processed, found.failed, found.pending) == (2, 2, 0)
    assert found.cancelled and found.finished
    callbacks = [name for name, _ in jobs.RAN if name in ("Then", "Catch", "Finally")]
    assert callbacks == ["Catch", "Finally"], "then never runs after a failure"
    assert any(cancelled for _, _, cancelled in jobs.SEEN), "later jobs saw the batch cancelled"


def test_allow_failures_keeps_the_batch_going(queue: Queue, manager: QueueManager, clock: FakeClock) -> None:
    batch = (
        Batch([FailingMember(n=1), Member(n=2)]).then(Then()).catch(Catch()).allow_failures().dispatch(queue)
    )
    work(manager, clock)
    found = batch.fresh()
    assert not found.cancelled and found.finished and found.failed == 1
    assert [name for name, _ in jobs.RAN if name in ("Then", "Catch")] == ["Catch", "Then"]


def test_jobs_added_from_inside_the_batch_are_counted(
    queue: Queue, manager: QueueManager, clock: FakeClock
) -> None:
    batch = Batch([Member(n=0, grow=3)]).finally_(Finally()).dispatch(queue)
    work(manager, clock)
    found = batch.fresh()
    assert (found.total, found.processed, found.finished) == (4, 4, True)
    assert [name for name, _ in jobs.RAN].count("Finally") == 1


def test_an_empty_batch_is_finished_at_once(queue: Queue, manager: QueueManager, clock: FakeClock) -> None:
    batch = Batch([]).then(Then()).finally_(Finally()).dispatch(queue)
    assert batch.finished and batch.progress == 100
    work(manager, clock)
    assert [name for name, _ in jobs.RAN] == ["Then", "Finally"]


def test_cancel_marks_the_batch(queue: Queue, manager: QueueManager, clock: FakeClock) -> None:
    batch = Batch([Member(n=1), Member(n=2)]).then(Then()).finally_(Finally()).dispatch(queue)
    batch.cancel()
    work(manager, clock)
    found = batch.fresh()
    assert found.cancelled and found.finished
    assert all(cancelled for _, _, cancelled in jobs.SEEN)
    assert [name for name, _ in jobs.RAN if name in ("Then", "Finally")] == ["Finally"]


# -- unique jobs ---------------------------------------------------------------------------
def test_a_unique_job_is_dropped_while_one_is_queued(
    queue: Queue, manager: QueueManager, clock: FakeClock
) -> None:
    first = queue.push(Recalc(account=7))
    assert first is not None
    assert queue.push(Recalc(account=7)) is None, "a second dispatch while one is queued is dropped"
    assert queue.later(10, Recalc(account=7)) is None
    assert queue.push(Recalc(account=8)) is not None, "another unique_id is another job"
    work(manager, clock)
    assert sorted(jobs.RAN) == [("Recalc", None), ("Recalc", None)]
    assert queue.push(Recalc(account=7)) is not None, "after it ran, a new dispatch is accepted"


def test_a_unique_lock_never_outlives_unique_for(
    queue: Queue, manager: QueueManager, clock: FakeClock
) -> None:
    queue.push(Recalc(account=1))
    queue.pop()  # reserved by a worker that then dies: nobody releases the lock
    from freight.queue.unique import connection_cache

    cache = connection_cache(queue)
    lock = cache.lock("unique:workflow_jobs:Recalc:1", 60)
    assert lock.current_owner() is not None, "the lock lives in the connection's own backend"
    if cache.store.uses_clock:
        clock.advance(61)
        assert queue.push(Recalc(account=1)) is not None, "the lock expired after unique_for"


def test_unique_until_processing_frees_the_lock_when_the_job_starts(
    queue: Queue, manager: QueueManager, clock: FakeClock
) -> None:
    assert queue.push(RecalcUntilProcessing(account=1)) is not None
    reserved = queue.pop()
    assert reserved is not None
    worker = Worker(manager, stop_when_empty=True, memory=0, clock=clock)
    worker.runner.process(reserved)
    assert queue.push(RecalcUntilProcessing(account=1)) is not None


def test_a_failed_unique_job_releases_its_lock(queue: Queue, manager: QueueManager, clock: FakeClock) -> None:
    queue.push(BrokenUnique(n=1))
    work(manager, clock)
    clock.advance(1)
    work(manager, clock)
    assert manager.failed().count() == 1
    assert queue.push(BrokenUnique(n=1)) is not None, "a job that failed for good released its lock"


# -- middleware ----------------------------------------------------------------------------
def test_rate_limited_jobs_wait_without_spending_tries(
    queue: Queue, manager: QueueManager, clock: FakeClock
) -> None:
    for i in range(8):
        queue.push(Limited(n=i))
    work(manager, clock)
    assert len(jobs.RAN) == 5, "5 run within the first minute"
    assert queue.size() == 3, "3 wait"
    clock.advance(61)
    work(manager, clock)
    assert len(jobs.RAN) == 8
    assert manager.failed().count() == 0, "none failed although each may be tried only once"
    assert queue.size() == 0


def test_throttles_exceptions_opens_the_circuit(
    queue: Queue, manager: QueueManager, clock: FakeClock
) -> None:
    queue.push(Throttled(n=1, fail=True))
    work(manager, clock)  # fails twice (backoff 0), then the circuit holds it back
    runs = len(jobs.RAN)
    assert runs == 2 and queue.size() == 1
    clock.advance(30)
    work(manager, clock)
    assert len(jobs.RAN) == runs, "held back while the circuit is open"
    assert manager.failed().count() == 0


def test_skip_and_plain_callable_middleware(queue: Queue, manager: QueueManager, clock: FakeClock) -> None:
    queue.push(Skipped(n=1, skip=True))
    queue.push(Skipped(n=2))
    queue.push(Wrapped(n=3))
    work(manager, clock)
    assert jobs.RAN == [("Skipped", 2), ("before", 3), ("Wrapped", 3), ("after", 3)]
    assert queue.size() == 0


# -- cancellation --------------------------------------------------------------------------
def test_cancelled_pending_and_delayed_jobs_never_run(
    queue: Queue, manager: QueueManager, clock: FakeClock
) -> None:
    pending = queue.push(Step(n=1))
    delayed = queue.later(30, Step(n=2))
    kept = queue.push(Step(n=3))
    chained = Chain([Step(n=4), Step(n=5)]).dispatch(queue)
    assert pending and delayed and kept and chained
    assert queue.cancel(pending) and manager.cancel(delayed)
    assert queue.cancel(pending) is False, "already gone"
    assert queue.cancel("0" * 32) is False
    clock.advance(31)
    work(manager, clock)
    assert jobs.RAN == [("Step", 3), ("Step", 4), ("Step", 5)]
    assert queue.cancel(kept) is False, "a job that ran cannot be cancelled"


def test_cancelling_a_unique_job_releases_its_lock(
    queue: Queue, manager: QueueManager, clock: FakeClock
) -> None:
    job_id = queue.push(Recalc(account=3))
    assert job_id is not None and queue.cancel(job_id)
    assert queue.push(Recalc(account=3)) is not None


def test_unique_jobs_dropped_from_a_batch_are_not_counted(
    queue: Queue, manager: QueueManager, clock: FakeClock
) -> None:
    assert queue.push(Recalc(account=1)) is not None
    batch = Batch([Recalc(account=1), Recalc(account=2), Member(n=3)]).finally_(Finally()).dispatch(queue)
    assert batch.total == 2, "the unique job already queued was left out of the batch"
    work(manager, clock)
    found = batch.fresh()
    assert found.finished and found.processed == 2
    assert [name for name, _ in jobs.RAN].count("Finally") == 1


# -- the sync driver ------------------------------------------------------------------------
@pytest.fixture
def sync() -> Iterator[Queue]:
    manager = QueueManager(
        {
            "default": "sync",
            "connections": {"sync": {"driver": "sync", "raise_exceptions": False}},
            "failed": {"driver": "redis", "client": fakeredis.FakeRedis()},
        }
    )
    yield manager.connection()
    manager.purge()


def test_chains_batches_and_unique_jobs_on_the_sync_driver(sync: Queue) -> None:
    Chain([Step(n=1), Broken(n=2), Step(n=3)]).catch(Catch(n="c")).dispatch(sync)
    assert jobs.RAN == [("Step", 1), ("Broken", 2), ("Broken", 2), ("Catch", "c")]
    jobs.RAN.clear()
    batch = Batch([Member(n=1), Member(n=2)]).then(Then()).finally_(Finally()).dispatch(sync)
    found = sync.find_batch(batch.id)
    assert found is not None and found.finished and found.processed == 2
    assert [name for name, _ in jobs.RAN] == ["Member", "Member", "Then", "Finally"]
    assert sync.push(Recalc(account=1)) is not None
    assert sync.push(Recalc(account=1)) is not None, "it ran at once and released its lock"
    assert sync.cancel("0" * 32) is False


def test_a_held_back_job_spends_its_tries_on_the_sync_driver(sync: Queue) -> None:
    for i in range(6):
        sync.push(Limited(n=i))
    assert len(jobs.RAN) == 5, "the sixth is held back, runs again at once, and fails after its try"


# -- the counters under contention ------------------------------------------------------------
def test_exactly_one_count_finishes_a_batch_and_one_sees_the_first_failure(queue: Queue) -> None:
    """4 threads count the last 64 jobs of a batch at once (each job on its own): exactly one
    count sees the batch finish and exactly one sees the first failure, on every backend."""
    import threading

    from freight.queue.batch import BatchState

    batches = queue.batches()
    batch_id = "race" + queue.default_queue[-12:]
    batches.create(BatchState(batch_id, "", 64, 64, 0, {"allow_failures": True}, 1.0))
    tallies: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def count(worker: int) -> None:
        try:
            barrier.wait(30)
            for i in range(16):
                failed = (worker, i) == (3, 3) or i == 15
                tallies.append(batches.record(batch_id, [f"job-{worker}-{i}"], failed, 2.0))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=count, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert len(tallies) == 64 and all(t is not None for t in tallies)
    assert sum(t.finished for t in tallies) == 1, "exactly one count finished the batch"
    assert sum(t.first_failure for t in tallies) == 1, "exactly one count saw the first failure"
    state = batches.find(batch_id)
    assert state is not None and (state.pending, state.failed, state.finished_at) == (0, 5, 2.0)
    assert batches.record(batch_id, ["job-0-0"], False, 3.0) is None, "a finished batch counts nothing more"


def test_a_job_counted_again_after_a_crash_is_not_counted_twice(queue: Queue) -> None:
    """A worker that died after counting a job but before acknowledging it makes the job run
    and be counted again: the batch remembers the ids it counted (redis set, SQL table)."""
    from freight.queue.batch import BatchState

    if not queue.persistent:
        pytest.skip("process memory: no worker can die without taking the batch with it")
    batches = queue.batches()
    batches.create(BatchState("again" + queue.default_queue[-12:], "", 3, 3, 0, {}, 1.0))
    batch_id = "again" + queue.default_queue[-12:]
    first = batches.record(batch_id, ["a", "b"], False, 2.0)
    assert first is not None and first.pending == 1
    assert batches.record(batch_id, ["a"], False, 2.0) is None, "a counted id is not counted again"
    again = batches.record(batch_id, ["b", "c"], False, 3.0)
    assert again is not None and (again.pending, again.finished) == (0, True), "only the new id counted"


def test_unique_options_are_checked_when_the_class_is_defined() -> None:
    from freight.errors import ConfigurationError
    from freight.queue.job import Job

    with pytest.raises(ConfigurationError, match="unique_until"):
        type("BadUntil", (Job,), {"unique": True, "unique_until": "later"})
    with pytest.raises(ConfigurationError, match="unique_for"):
        type("BadFor", (Job,), {"unique": True, "unique_for": 0})
