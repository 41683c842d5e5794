"""What only the redis driver promises: its key layout, scripts, errors and blocking wait."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

import pytest

from freight.errors import QueueConnectionError, QueueError
from freight.queue.drivers import redis as redis_driver
from freight.queue.drivers.redis import RedisQueue

if TYPE_CHECKING:
    from conftest import FakeClock

redis = pytest.importorskip("redis")

LUA_SCRIPTS = ("reserve", "release", "extend", "clear")


def raw(n: int) -> str:
    return json.dumps({"uuid": uuid.uuid4().hex, "job": "tests:Nothing", "data": {"n": n}})


def number(job: Any) -> int:
    return int(json.loads(job.raw)["data"]["n"])


@pytest.fixture(params=["redis", "fakeredis"])
def rq(
    request: pytest.FixtureRequest,
    queue_config: Callable[..., dict[str, Any]],
    make_queue: Callable[..., Any],
) -> RedisQueue:
    """A redis queue on the real server and on fakeredis."""
    queue = make_queue(queue_config(request.param))
    assert isinstance(queue, RedisQueue)
    return queue


def test_every_key_of_a_queue_shares_one_hash_tag(rq: RedisQueue, clock: FakeClock) -> None:
    """Ready, delayed and reserved keys carry ``{queue}``, so a queue lives in one cluster slot."""
    from redis.crc import key_slot

    q = rq.default_queue
    rq.push_raw(raw(1), q)
    rq.push_raw(raw(2), q)
    rq.push_raw(raw(3), q, delay=60)
    assert rq.pop(q) is not None
    keys = sorted(k.decode() for k in rq.client.keys(f"{rq.prefix}:*"))
    assert keys == [f"{rq.prefix}:{{{q}}}:{part}" for part in ("delayed", "ready", "reserved")]
    assert len({key_slot(k.encode()) for k in keys}) == 1


def test_lua_scripts_ship_in_the_package_with_documented_headers() -> None:
    """Each script is package data and opens with a header naming its KEYS and ARGV."""
    lua = resources.files("freight.queue.drivers").joinpath("lua")
    for name in LUA_SCRIPTS:
        source = lua.joinpath(f"{name}.lua").read_text("utf-8")
        header = source.split("]]", 1)[0]
        assert header.startswith("--[[") and "KEYS[1]" in header and "Key schema" in header
        assert "redis.call('KEYS'" not in source  # every key arrives through KEYS


def test_scripts_are_reloaded_after_a_script_flush(
    queue_config: Callable[..., dict[str, Any]], make_queue: Callable[..., Any]
) -> None:
    """NOSCRIPT (a restarted or flushed server) loads the script again transparently."""
    queue = make_queue(queue_config("fakeredis"))  # flushing scripts on the shared server would be rude
    queue.push_raw(raw(1), queue.default_queue)
    queue.client.script_flush()
    job = queue.pop()
    assert job is not None and number(job) == 1


def test_an_unreachable_server_raises_queue_connection_error(make_queue: Callable[..., Any]) -> None:
    """A refused connection becomes QueueConnectionError naming the connection and address."""
    queue = make_queue(
        {"driver": "redis", "name": "jobs-redis", "url": "redis://127.0.0.1:1/0", "socket_connect_timeout": 1}
    )
    for call in (lambda: queue.push_raw(raw(1), "q"), lambda: queue.pop("q"), lambda: queue.size("q")):
        with pytest.raises(QueueConnectionError) as caught:
            call()
        assert "jobs-redis" in str(caught.value) and "127.0.0.1:1" in str(caught.value)
        assert isinstance(caught.value.__cause__, redis.exceptions.ConnectionError)


def test_a_server_side_error_raises_queue_error(rq: RedisQueue) -> None:
    """A command the server rejects (wrong key type) becomes QueueError, not a connection error."""
    ready = rq.keys(rq.default_queue)[0]
    rq.client.set(ready, "not a list")
    with pytest.raises(QueueError) as caught:
        rq.push_raw(raw(1), rq.default_queue)
    assert not isinstance(caught.value, QueueConnectionError)
    assert "WRONGTYPE" in str(caught.value)


def test_a_payload_pushed_by_other_code_is_still_delivered(rq: RedisQueue) -> None:
    """A bare payload LPUSHed by hand (no envelope) is reserved as attempt 1."""
    rq.client.rpush(rq.keys(rq.default_queue)[0], raw(5))
    job = rq.pop()
    assert job is not None and number(job) == 5 and job.attempts == 1
    rq.ack(job)
    assert rq.size() == 0


def test_a_decoding_client_works_too(
    queue_config: Callable[..., dict[str, Any]], make_queue: Callable[..., Any], redis_url: str
) -> None:
    """A client created with ``decode_responses=True`` (str replies) is handled alike."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    config = queue_config("redis")
    queue = make_queue({**config, "client": client})
    queue.push_raw(raw(1), queue.default_queue)
    job = queue.pop()
    assert job is not None and number(job) == 1
    assert queue.extend(job) is True
    queue.release(job, 0)
    job = queue.pop()
    assert job is not None and job.attempts == 2
    queue.ack_many([job])
    assert queue.size() == 0
    client.close()


def test_migration_is_bounded_per_call_but_complete(
    rq: RedisQueue, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Due delayed jobs move over in bounded batches, in due order, none lost."""
    monkeypatch.setattr(redis_driver, "MAX_BATCH", 4)
    rq.push_raw_many([(raw(i), rq.default_queue, 1 + i) for i in range(10)])
    clock.advance(100)
    seen: list[int] = []
    while jobs := rq.pop_many(limit=100):
        assert len(jobs) <= 4
        seen += [number(j) for j in jobs]
    assert seen == list(range(10))


def test_a_push_during_a_blocked_wait_keeps_fifo_order(rq: RedisQueue) -> None:
    """The blocking wait (BLMOVE of the tail onto itself) never reorders the ready list."""
    q = rq.default_queue
    timer = threading.Timer(0.1, lambda: rq.push_raw_many([(raw(i), q, 0) for i in range(3)]))
    timer.start()
    rq.wait([q], 5)
    timer.join()
    rq.wait([q], 5)
    assert [number(j) for j in rq.pop_many(limit=5)] == [0, 1, 2]


def test_wait_stays_under_the_client_socket_timeout(
    queue_config: Callable[..., dict[str, Any]], make_queue: Callable[..., Any]
) -> None:
    """With ``socket_timeout`` set, a long wait is split so no read times out."""
    queue = make_queue(queue_config("redis", socket_timeout=0.8))
    started = time.monotonic()
    queue.wait([queue.default_queue], 1.0)
    assert 0.9 <= time.monotonic() - started < 4


def test_create_reads_the_documented_defaults(redis_url: str) -> None:
    """prefix "freight", queue "default", retry_after 90, and the connection's name."""
    queue = redis_driver.create({"driver": "redis", "url": redis_url, "name": "main"})
    try:
        assert (queue.prefix, queue.default_queue, queue.retry_after, queue.name) == (
            "freight",
            "default",
            90.0,
            "main",
        )
        assert queue.keys("emails")[0] == "freight:{emails}:ready"
        assert queue.signer is None
    finally:
        queue.close()


def test_close_leaves_a_client_it_was_given_open(
    queue_config: Callable[..., dict[str, Any]], make_queue: Callable[..., Any], redis_url: str
) -> None:
    """A client passed in belongs to the caller: close() does not close it."""
    client = redis.Redis.from_url(redis_url)
    queue = make_queue({**queue_config("redis"), "client": client})
    queue.close()
    assert client.ping() is True
    client.close()
