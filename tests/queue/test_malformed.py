"""Malformed queue entries (issue 12, item 2), on every queue backend.

Entries that freight did not write — or that were damaged — sit in the redis ready list
and in BOTH sorted sets (delayed, reserved), or in SQL rows with cells of the wrong type
or at the column's limit, or carry options out of range. Each must land in the failed
store with its reason while the worker carries on: the good job behind them runs, the
queue ends empty, and the worker exits normally.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import fakeredis
import pytest
from jobs_fixture import CALLS, Noop, reset

from freight.queue import payload as payloads
from freight.queue.drivers.base import Queue
from freight.queue.drivers.database import DatabaseQueue
from freight.queue.drivers.redis import RedisQueue
from freight.queue.manager import QueueManager
from freight.queue.worker import EXIT_OK, Worker


def good_payload(**fields: Any) -> str:
    return payloads.dumps({**payloads.build(Noop(), "q", 0.0), **fields})


def with_option(text: str) -> str:
    """A valid payload whose option fields are replaced by raw JSON ``text`` (``1e400``,
    ``NaN``... cannot be written by json.dumps)."""
    options = ("attempts", "max_tries", "backoff", "timeout", "retry_until")
    body = {k: v for k, v in payloads.build(Noop(), "q", 0.0).items() if k not in options}
    return json.dumps(body, separators=(",", ":"))[:-1] + "," + text + "}"


#: payloads with an option out of range -> the field the reason must name
BAD_OPTIONS = {
    with_option('"max_tries":1e400'): "max_tries",
    with_option('"max_tries":-1'): "max_tries",
    with_option('"max_tries":1.5'): "max_tries",
    with_option('"max_tries":"3"'): "max_tries",
    with_option('"max_tries":true'): "max_tries",
    with_option('"max_tries":2147483647'): "max_tries",
    with_option('"backoff":1e20'): "backoff",
    with_option('"backoff":[1,1e20]'): "backoff",
    with_option('"backoff":"fault_bait:trap"'): "backoff",
    with_option('"backoff":-1'): "backoff",
    with_option('"backoff":NaN'): "backoff",
    with_option('"timeout":1e12'): "timeout",
    with_option('"timeout":Infinity'): "timeout",
    with_option('"timeout":-1'): "timeout",
    with_option('"retry_until":"tomorrow"'): "retry_until",
    with_option('"retry_until":NaN'): "retry_until",
    with_option('"retry_until":-Infinity'): "retry_until",
}

#: raw redis members that are not well-formed envelopes
BAD_MEMBERS: list[bytes] = [
    b"\xff\xfe\xfd",
    b"5|x",
    b"1.5|abc|" + good_payload().encode(),
    b"1e300|abc|" + good_payload().encode(),
    b"-1|abc|" + good_payload().encode(),
    b"12345678901|abc|" + good_payload().encode(),
    b"||",
    b"|",
    b"0|id|\xff\xfe",
    b"0|id|not json at all",
    b"0|id|"
    + good_payload(job="\udc80".encode("utf-8", "surrogatepass").decode("latin-1")).encode("latin-1"),
]


def run_worker(queue: Queue, clock: Any) -> tuple[Worker, QueueManager]:
    manager = QueueManager(
        {
            "default": "c",
            "connections": {"c": {"driver": "given"}},
            "failed": {"driver": "redis", "client": fakeredis.FakeRedis()},
        }
    )
    manager.extend("given", lambda config, m: queue)
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        clock.advance(seconds)
        assert len(naps) < 500, "the worker kept idling"

    worker = Worker(
        manager,
        queues=[queue.default_queue],
        clock=clock,
        sleep_fn=nap,
        memory=0,
        stop_when_empty=True,
        prefetch=5,
    )
    assert worker.run() == EXIT_OK
    return worker, manager


def inject_redis(queue: RedisQueue, now: float) -> int:
    ready, delayed, reserved = queue.keys(queue.default_queue)
    client: Any = queue.client
    count = 0
    for i, member in enumerate(BAD_MEMBERS):
        client.rpush(ready, member)
        client.zadd(delayed, {member + b"#d%d" % i if b"|" in member else member: now - 5})
        client.zadd(reserved, {member + b"#r%d" % i if b"|" in member else member + b"r": now - 5})
        count += 3
    return count


def inject_sql(queue: DatabaseQueue, now: float) -> int:
    import sqlalchemy as sa

    queue.create_tables()
    table = queue.table
    rows: list[dict[str, Any]] = [{"payload": good_payload(), "attempts": 2147483647}]
    if queue.engine.dialect.name == "sqlite":  # a file anyone can write, cells of any type
        rows += [
            {"payload": b"\xff\xfe", "attempts": 0},
            {"payload": 5, "attempts": 0},
            {"payload": 1.5, "attempts": 0},
            {"payload": b"{}", "attempts": "abc"},
            {"payload": good_payload(), "attempts": "abc"},
            {"payload": good_payload(), "attempts": 1.5},
            {"payload": good_payload(), "attempts": b"\x00"},
            {"payload": good_payload(), "attempts": 9223372036854775807},
        ]
    insert = sa.text(
        f"INSERT INTO {table.name} (queue, payload, attempts, reserved_at, available_at, created_at) "
        "VALUES (:queue, :payload, :attempts, NULL, :at, :at)"
    )
    with queue.engine.begin() as conn:
        for row in rows:
            conn.execute(insert, {"queue": queue.default_queue, "at": now - 5, **row})
    return len(rows)


def test_malformed_entries_land_in_the_failed_store_and_the_worker_carries_on(
    queue_kind: str, queue_config: Callable[..., dict[str, Any]], make_queue: Callable[..., Queue], clock: Any
) -> None:
    reset()
    queue = make_queue(queue_config(queue_kind))
    bad = 0  # a backend with no storage of its own to damage (memory) gets the payloads only
    if isinstance(queue, RedisQueue):
        bad = inject_redis(queue, clock.now)
    elif isinstance(queue, DatabaseQueue):
        bad = inject_sql(queue, clock.now)
    else:  # a driver with no storage of its own to corrupt (memory): bad payload options only
        bad = 0
    for raw in BAD_OPTIONS:
        queue.push_raw(raw, queue.default_queue)
    queue.push(Noop(n="good"))
    _, manager = run_worker(queue, clock)
    assert ("Noop", {"n": "good"}, 1) in CALLS, "the good job behind the malformed entries did not run"
    records = manager.failed().all()
    assert len(records) == bad + len(BAD_OPTIONS), [r.summary for r in records]
    by_payload = {r.payload: r for r in records}
    for raw, field in BAD_OPTIONS.items():
        assert f"'{field}'" in by_payload[raw].summary, by_payload[raw].summary
    assert all(r.summary for r in records)
    assert queue.size(queue.default_queue) == 0
    reset()


@pytest.mark.applies("queue_kind", lambda kind: kind in ("sqlite", "postgres", "mysql"))
def test_a_row_at_the_attempts_limit_does_not_block_the_batch(
    queue_kind: str, queue_config: Callable[..., dict[str, Any]], make_queue: Callable[..., Queue], clock: Any
) -> None:
    """One row with attempts = 2147483647 reserved in the same batch as good jobs: the
    reserve succeeds and the good jobs are handed out."""
    queue = make_queue(queue_config(queue_kind))
    assert isinstance(queue, DatabaseQueue)
    inject_sql(queue, clock.now)
    for i in range(3):
        queue.push(Noop(n=i))
    jobs = queue.pop_many(queue.default_queue, 100)
    goods = [j for j in jobs if '"n":' in j.raw and j.attempts == 1]
    assert len(goods) == 3
    assert any(j.attempts == 2147483647 for j in jobs)
    queue.ack_many(jobs)
    assert queue.size(queue.default_queue) == 0


def test_bad_option_payloads_decode_as_json() -> None:
    """The option payloads are valid JSON objects: only their option values are wrong."""
    for raw in BAD_OPTIONS:
        assert isinstance(json.loads(raw), dict)
