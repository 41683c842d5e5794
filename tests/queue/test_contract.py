"""The queue contract every driver that keeps jobs honours, run against each backend in turn.

Time travels on the fake clock (``clock.advance``); only the ``wait()`` tests spend a
fraction of a real second. Backend differences are capability flags on the driver
(``wakes_on_push``), never copies of a test.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from freight.errors import PayloadError
from freight.queue import payload as payloads
from freight.queue.drivers.base import Queue, ReservedJob
from freight.queue.job import Job

if TYPE_CHECKING:
    from conftest import FakeClock


def raw(n: int, **extra: Any) -> str:
    """A payload string as the base class would store it."""
    return json.dumps({"uuid": uuid.uuid4().hex, "job": "tests:Nothing", "data": {"n": n, **extra}})


def number(job: ReservedJob) -> int:
    return int(json.loads(job.raw)["data"]["n"])


def push_numbers(queue: Queue, count: int, name: str | None = None) -> None:
    queue.push_raw_many([(raw(i), name or queue.default_queue, 0) for i in range(count)])


class Greet(Job):
    """A job with data only."""

    def handle(self) -> None:
        """Nothing to do."""


class Later(Job):
    """A job that delays itself by its class option."""

    delay = 30

    def handle(self) -> None:
        """Nothing to do."""


# -- push / pop / ack ---------------------------------------------------------------------
def test_push_pop_ack(queue: Queue) -> None:
    """A pushed payload comes back reserved, exactly as stored, and ack deletes it."""
    payload = raw(1)
    queue.push_raw(payload, queue.default_queue)
    assert queue.size() == 1
    job = queue.pop()
    assert job is not None
    assert (job.raw, job.queue, job.attempts, job.connection) == (payload, queue.default_queue, 1, queue.name)
    assert queue.size() == 1  # reserved, not removed
    assert queue.pop() is None
    queue.ack(job)
    assert queue.size() == 0
    assert queue.pop() is None


def test_pop_on_an_empty_queue_returns_none(queue: Queue) -> None:
    """Nothing pushed: pop gives None and pop_many an empty list."""
    assert queue.pop() is None
    assert queue.pop_many(limit=10) == []
    assert queue.size() == 0


def test_fifo_order(queue: Queue) -> None:
    """Jobs pushed one by one come out in the order they went in."""
    for i in range(6):
        queue.push_raw(raw(i), queue.default_queue)
    popped = [queue.pop() for _ in range(6)]
    assert [number(j) for j in popped if j] == list(range(6))


def test_payloads_round_trip_byte_for_byte(queue: Queue) -> None:
    """Unicode, separators the drivers use, and a payload over 64 KiB survive unchanged."""
    odd = json.dumps({"uuid": "u", "job": "a:B", "data": {"s": "héllo | 世界 | \\u0000 |||", "n": 0}})
    big = raw(1, blob="x" * 70_000)
    for payload in (odd, big):
        queue.push_raw(payload, queue.default_queue)
    assert [j.raw for j in queue.pop_many(limit=2)] == [odd, big]


def test_default_queue_is_used_when_none_is_given(queue: Queue) -> None:
    """pop(), size() and clear() without a name work on the connection's queue."""
    queue.push_raw(raw(1), queue.default_queue)
    assert queue.size(None) == queue.size(queue.default_queue) == 1
    job = queue.pop(None)
    assert job is not None and job.queue == queue.default_queue


# -- attempts and release -----------------------------------------------------------------
def test_attempts_count_every_reservation(queue: Queue) -> None:
    """Each reservation adds one attempt; release stores the job's count back."""
    queue.push_raw(raw(1), queue.default_queue)
    for expected in (1, 2, 3):
        job = queue.pop()
        assert job is not None and job.attempts == expected
        queue.release(job, 0)


def test_release_stores_the_workers_attempt_count(queue: Queue) -> None:
    """A worker returning an unstarted job decrements attempts first: the count is not used up."""
    queue.push_raw(raw(1), queue.default_queue)
    job = queue.pop()
    assert job is not None
    job.attempts -= 1
    queue.release(job, 0)
    again = queue.pop()
    assert again is not None and again.attempts == 1


def test_release_with_delay_waits_for_its_time(queue: Queue, clock: FakeClock) -> None:
    """A job released with a delay is counted but not handed out before the delay ends."""
    queue.push_raw(raw(1), queue.default_queue)
    job = queue.pop()
    assert job is not None
    queue.release(job, 30)
    assert queue.size() == 1
    assert queue.pop() is None
    clock.advance(29.5)
    assert queue.pop() is None
    clock.advance(0.5)
    again = queue.pop()
    assert again is not None and again.raw == job.raw and again.attempts == 2


def test_returning_unstarted_jobs_newest_first_keeps_their_order(queue: Queue) -> None:
    """Prefetched jobs released (attempt un-counted) newest first come back in order."""
    push_numbers(queue, 5)
    held = queue.pop_many(limit=3)
    for job in reversed(held):
        job.attempts -= 1
        queue.release(job, 0)
    again = queue.pop_many(limit=5)
    assert [number(j) for j in again] == [0, 1, 2, 3, 4]
    assert {j.attempts for j in again} == {1}


# -- delayed jobs -------------------------------------------------------------------------
def test_delayed_push_becomes_available_at_its_time(queue: Queue, clock: FakeClock) -> None:
    """A delayed job is counted at once and handed out only once its time has come."""
    queue.push_raw(raw(1), queue.default_queue, delay=10)
    assert queue.size() == 1
    assert queue.pop() is None
    clock.advance(9.9)
    assert queue.pop() is None
    clock.advance(0.1)
    job = queue.pop()
    assert job is not None and number(job) == 1 and job.attempts == 1


def test_delayed_jobs_come_out_in_due_order(queue: Queue, clock: FakeClock) -> None:
    """Jobs due at different times come out in the order they fall due."""
    for n, delay in ((0, 30), (1, 10), (2, 20)):
        queue.push_raw(raw(n), queue.default_queue, delay=delay)
    clock.advance(31)
    assert [number(j) for j in queue.pop_many(limit=3)] == [1, 2, 0]


# -- reservations: expiry, redelivery, heartbeat --------------------------------------------
def test_expired_reservation_is_redelivered(queue: Queue, clock: FakeClock) -> None:
    """A job whose worker never acked it comes back after retry_after, attempts counted."""
    queue.push_raw(raw(7), queue.default_queue)
    first = queue.pop()
    assert first is not None
    clock.advance(queue.retry_after - 1)
    assert queue.pop() is None
    clock.advance(1)
    second = queue.pop()
    assert second is not None
    assert (second.raw, second.attempts) == (first.raw, 2)
    assert queue.size() == 1


def test_stale_ack_and_release_leave_the_redelivered_job_alone(queue: Queue, clock: FakeClock) -> None:
    """The first worker's late ack/release/extend do not touch the second worker's reservation."""
    queue.push_raw(raw(7), queue.default_queue)
    first = queue.pop()
    assert first is not None
    clock.advance(queue.retry_after)
    second = queue.pop()
    assert second is not None and second.attempts == 2
    queue.ack(first)
    queue.release(first, 0)
    assert queue.extend(first) is False
    assert queue.size() == 1
    assert queue.pop() is None  # still reserved by the second worker
    queue.ack(second)
    assert queue.size() == 0


def test_late_release_of_an_expired_job_never_duplicates_it(queue: Queue, clock: FakeClock) -> None:
    """A worker releasing a job whose reservation already expired leaves exactly one copy."""
    queue.push_raw(raw(0), queue.default_queue)
    queue.push_raw(raw(1), queue.default_queue)
    stale = queue.pop()
    assert stale is not None and number(stale) == 0
    clock.advance(queue.retry_after)
    other = queue.pop()  # takes job 1; job 0's expired reservation is noticed on the way
    assert other is not None
    queue.release(stale, 0)
    queue.ack(other)
    assert queue.size() == 1
    again = queue.pop_many(limit=10)
    assert [(number(j), j.attempts) for j in again] == [(0, 2)]


def test_extend_keeps_a_long_job_reserved(queue: Queue, clock: FakeClock) -> None:
    """Heartbeats keep a job running past retry_after from being handed to another worker."""
    queue.push_raw(raw(1), queue.default_queue)
    job = queue.pop()
    assert job is not None
    for _ in range(4):  # 4 x 60 s = 240 s, far beyond retry_after (90 s)
        clock.advance(60)
        assert queue.extend(job) is True
        assert queue.pop() is None
    queue.ack(job)
    assert queue.size() == 0


def test_extend_by_given_seconds_then_expiry(queue: Queue, clock: FakeClock) -> None:
    """extend(job, seconds) sets the deadline to now + seconds; after it the job comes back."""
    queue.push_raw(raw(1), queue.default_queue)
    job = queue.pop()
    assert job is not None
    assert queue.extend(job, 300) is True
    clock.advance(299)
    assert queue.pop() is None
    clock.advance(1)
    again = queue.pop()
    assert again is not None and again.attempts == 2


def test_extend_after_ack_returns_false(queue: Queue) -> None:
    """A job that is no longer reserved cannot be extended."""
    queue.push_raw(raw(1), queue.default_queue)
    job = queue.pop()
    assert job is not None
    queue.ack(job)
    assert queue.extend(job) is False
    assert queue.size() == 0


# -- batches ------------------------------------------------------------------------------
def test_pop_many_reserves_in_order_up_to_the_limit(queue: Queue) -> None:
    """pop_many hands out at most ``limit`` jobs, oldest first, each once."""
    push_numbers(queue, 10)
    first = queue.pop_many(limit=4)
    rest = queue.pop_many(limit=100)
    assert [number(j) for j in first] == [0, 1, 2, 3]
    assert [number(j) for j in rest] == [4, 5, 6, 7, 8, 9]
    assert len({j.id for j in first + rest}) == 10
    assert {j.attempts for j in first + rest} == {1}
    assert queue.pop_many(limit=5) == []
    assert queue.pop_many(limit=0) == []
    assert queue.size() == 10


def test_ack_many_deletes_a_batch(queue: Queue, clock: FakeClock) -> None:
    """ack_many removes every job of a batch, retried and fresh ones alike."""
    push_numbers(queue, 6)
    retried = queue.pop()
    assert retried is not None
    queue.release(retried, 0)
    batch = queue.pop_many(limit=6)
    assert sorted(j.attempts for j in batch) == [1, 1, 1, 1, 1, 2]
    queue.ack_many(batch)
    queue.ack_many([])
    assert queue.size() == 0


def test_push_raw_many_with_queues_and_delays(queue: Queue, clock: FakeClock) -> None:
    """One bulk call can target several queues, some jobs delayed."""
    a, b = queue.default_queue, queue.default_queue + "-b"
    queue.push_raw_many([(raw(0), a, 0), (raw(1), b, 0), (raw(2), a, 5), (raw(3), a, 0), (raw(4), b, 0)])
    assert (queue.size(a), queue.size(b)) == (3, 2)
    assert [number(j) for j in queue.pop_many(a, 10)] == [0, 3]
    assert [number(j) for j in queue.pop_many(b, 10)] == [1, 4]
    clock.advance(5)
    assert [number(j) for j in queue.pop_many(a, 10)] == [2]
    queue.clear(b)


def test_large_bulk(queue: Queue) -> None:
    """Thousands of jobs in one bulk call arrive complete and in order."""
    push_numbers(queue, 2500)
    assert queue.size() == 2500
    seen: list[int] = []
    while batch := queue.pop_many(limit=1000):
        seen += [number(j) for j in batch]
        queue.ack_many(batch)
    assert seen == list(range(2500))


# -- queues, size, clear --------------------------------------------------------------------
def test_two_queues_are_independent(queue: Queue) -> None:
    """Jobs, sizes and clear() of one queue do not touch another."""
    a, b = queue.default_queue, queue.default_queue + "-other"
    queue.push_raw(raw(1), a)
    queue.push_raw(raw(2), b)
    queue.push_raw(raw(3), b)
    assert (queue.size(a), queue.size(b)) == (1, 2)
    job = queue.pop(b)
    assert job is not None and number(job) == 2 and job.queue == b
    assert queue.clear(a) == 1
    assert (queue.size(a), queue.size(b)) == (0, 2)
    assert queue.clear(b) == 2


def test_size_and_clear_count_ready_delayed_and_reserved(queue: Queue) -> None:
    """size() and clear() cover ready, delayed and reserved jobs."""
    push_numbers(queue, 3)
    queue.push_raw(raw(9), queue.default_queue, delay=60)
    assert queue.pop() is not None
    assert queue.size() == 4
    assert queue.clear() == 4
    assert queue.size() == 0
    assert queue.pop() is None
    assert queue.clear() == 0


# -- concurrency ----------------------------------------------------------------------------
def test_concurrent_pops_never_hand_one_job_to_two_consumers(queue: Queue) -> None:
    """Six threads draining one queue see every job exactly once."""
    total = 300
    push_numbers(queue, total)
    seen: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def consume(limit: int) -> None:
        try:
            while jobs := queue.pop_many(limit=limit):
                with lock:
                    seen.extend(number(j) for j in jobs)
                for job in jobs:
                    queue.ack(job)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=consume, args=(1 + i % 3 * 4,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(seen) == list(range(total))
    assert queue.size() == 0


# -- the job-level API through the base class ---------------------------------------------------
def test_push_later_and_bulk_of_jobs(queue: Queue, clock: FakeClock) -> None:
    """push/later/bulk of Job objects produce payloads the worker can decode, in order."""
    first = queue.push(Greet({"name": "ada"}))
    delayed = queue.later(30, Greet(name="bob"))
    own_delay = queue.push(Later(name="cy"))
    bulk_ids = queue.bulk([Greet(i=i) for i in range(3)])
    assert queue.size() == 6
    ready = queue.pop_many(limit=10)
    decoded = [payloads.loads(j.raw) for j in ready]
    assert [d["uuid"] for d in decoded] == [first, *bulk_ids]
    assert decoded[0]["data"] == {"name": "ada"} and decoded[0]["job"] == payloads.job_path(Greet)
    assert [d["data"] for d in decoded[1:]] == [{"i": 0}, {"i": 1}, {"i": 2}]
    clock.advance(30)
    later = [payloads.loads(j.raw) for j in queue.pop_many(limit=10)]
    assert sorted(d["uuid"] for d in later) == sorted([delayed, own_delay])


def test_job_queue_option_routes_the_push(queue: Queue) -> None:
    """A job's own queue wins over the connection's; an explicit queue wins over both."""
    routed = Greet(x=1)
    routed.queue = queue.default_queue + "-mail"
    queue.push(routed)
    queue.push(Greet(x=2), queue=queue.default_queue + "-high")
    assert queue.size(queue.default_queue + "-mail") == 1
    assert queue.size(queue.default_queue + "-high") == 1
    assert queue.size() == 0
    queue.clear(queue.default_queue + "-mail")
    queue.clear(queue.default_queue + "-high")


def test_signed_payloads_round_trip(queue_kind: str, queue_config: Any, make_queue: Any) -> None:
    """With a connection key the stored payload is signed and only that key reads it."""
    signed = make_queue(queue_config(queue_kind, key="s3cret-s3cret-s3cret"))
    job_id = signed.push(Greet(secret="x"))
    job = signed.pop()
    assert job is not None and job.raw.startswith("sig:")
    decoded = payloads.loads(job.raw, signed.signer)
    assert decoded["uuid"] == job_id and decoded["data"] == {"secret": "x"}
    with pytest.raises(PayloadError):
        payloads.loads(job.raw, None)
    tampered = job.raw.replace('"x"', '"y"')
    with pytest.raises(PayloadError):
        payloads.loads(tampered, signed.signer)
