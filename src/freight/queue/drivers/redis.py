"""The redis queue driver: lists and sorted sets per queue, moved atomically by Lua scripts.

Per queue ``Q`` (with the default prefix ``freight``)::

    freight:{Q}:ready      LIST  envelopes ready to run, oldest at the head
    freight:{Q}:delayed    ZSET  envelopes waiting, score = available-at
    freight:{Q}:reserved   ZSET  envelopes being run, score = reservation deadline

An envelope is ``"<attempts>|<id>|<payload>"``. Every key of a queue carries the hash
tag ``{Q}`` and every script receives its keys through ``KEYS``, so a queue lives in
one Redis Cluster slot. A push is one native RPUSH (ZADD when delayed); reserving,
releasing, extending and clearing are Lua scripts (``lua/*.lua``, whose headers document
the keys and arguments). Times are Unix seconds from the driver's ``clock``, passed to
the scripts as arguments, so producers and workers need synchronised clocks.
An idle worker blocks in ``BLMOVE ready ready RIGHT RIGHT``, which returns as soon as
the list holds a job and leaves it where it is.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from freight import redis_errors
from freight.connections import redis_address, redis_client
from freight.errors import QUEUE_ERRORS, MissingDependencyError
from freight.lua import register
from freight.manager import clock_of
from freight.queue import payload as payloads
from freight.queue.batch import BatchRepository
from freight.queue.drivers.base import Queue, ReservedJob
from freight.queue.drivers.redis_batches import RedisBatches
from freight.redis_errors import CLIENT_ERRORS
from freight.redis_topology import master_watch

if TYPE_CHECKING:
    import redis

__all__ = ["RedisQueue", "create"]

#: the most jobs one reserve call hands out, and the most one script call migrates
MAX_BATCH = 1000
#: envelopes per RPUSH/ZADD command in ``push_raw_many``
PUSH_CHUNK = 2000
#: list entries read per round trip while looking for a job to cancel
CANCEL_CHUNK = 1000
#: with several queues, ``wait()`` blocks on each in turn for at most this many seconds
WAIT_SLICE = 0.5


def _reserved(member: bytes | str, queue: str, connection: str) -> ReservedJob:
    """The reserved job of one envelope ``<attempts>|<id>|<payload>`` as reserve.lua returned it.

    An entry that is not one (written into the list or a sorted set by something else:
    invalid UTF-8, a non-integer count) becomes a job marked ``malformed`` with the
    reason, which the worker records in the failed store; ``member`` is kept as stored,
    so the ack removes exactly it."""
    raw_member = member if isinstance(member, bytes) else member.encode("utf-8", "surrogateescape")
    head, bar, rest = raw_member.partition(b"|")
    job_id, bar2, body = rest.partition(b"|")
    problem = ""
    if not (bar and bar2 and head.isdigit() and len(head) <= 9):
        problem = "the entry is not a freight envelope '<attempts>|<id>|<payload>'"
    try:
        raw = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raw, problem = body.decode("utf-8", "backslashreplace"), f"the payload is not UTF-8: {exc}"
    attempts = int(head) if not problem else 1
    extra: dict[str, Any] = {"member": member}
    if problem:
        extra["malformed"] = f"malformed entry on redis queue {queue!r}: {problem}"
        raw = raw_member.decode("utf-8", "backslashreplace")
    return ReservedJob(job_id.decode("ascii", "replace"), queue, raw, attempts, connection, extra)


def _float(value: float) -> str:
    return repr(float(value))


class RedisQueue(Queue):
    """Jobs in Redis lists and sorted sets; reserve, release and extend are Lua scripts."""

    driver = "redis"
    #: a push wakes a worker blocked in wait() at once
    wakes_on_push: ClassVar[bool] = True
    #: ack_many deletes a batch in one round trip
    batch_acks: ClassVar[bool] = True

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "freight",
        owns_client: bool = False,
        name: str = "",
        queue: str = "default",
        retry_after: float = 90,
        key: str | bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name=name, queue=queue, retry_after=retry_after, key=key, clock=clock)
        if not CLIENT_ERRORS:  # pragma: no cover - redis-py is needed for any client
            raise MissingDependencyError("redis", "redis", "redis")
        self.client = client
        self.prefix = prefix
        self._owns_client = owns_client
        self._keys: dict[str, tuple[str, str, str]] = {}
        self._watch = master_watch(client)
        self._reserve = register(client, "freight.queue.drivers", "reserve")
        self._release = register(client, "freight.queue.drivers", "release")
        self._extend = register(client, "freight.queue.drivers", "extend")
        self._clear = register(client, "freight.queue.drivers", "clear")

    # -- keys ---------------------------------------------------------------------------
    def keys(self, queue: str) -> tuple[str, str, str]:
        """The ``(ready, delayed, reserved)`` keys of ``queue``."""
        keys = self._keys.get(queue)
        if keys is None:
            base = f"{self.prefix}:{{{queue}}}:"
            keys = (base + "ready", base + "delayed", base + "reserved")
            self._keys[queue] = keys
        return keys

    def _fail(self, exc: Exception, action: str) -> NoReturn:
        """Raise the freight error for a redis-py exception raised while doing ``action``."""
        who = f"queue connection {self.name!r} ({redis_address(self.client)})"
        raise redis_errors.translate(exc, QUEUE_ERRORS, who, action, self.client) from exc

    # -- primitives ---------------------------------------------------------------------
    def push_raw(self, raw: str, queue: str, delay: float = 0) -> None:
        """Store one payload on ``queue`` with one native command (RPUSH, or ZADD when delayed)."""
        keys = self.keys(queue)
        envelope = f"0|{os.urandom(8).hex()}|{raw}"
        try:
            if delay <= 0:
                self.client.rpush(keys[0], envelope)
            else:
                self.client.zadd(keys[1], {envelope: self.clock() + delay})
        except CLIENT_ERRORS as exc:
            self._fail(exc, f"push to queue {queue!r}")

    def push_raw_many(self, items: Sequence[tuple[str, str, float]]) -> None:
        """Store many payloads in one round trip: RPUSH/ZADD per queue and chunk, in MULTI/EXEC
        (a plain pipeline on Redis Cluster, where a transaction cannot span queues)."""
        now = self.clock()
        by_queue: dict[str, tuple[list[str], dict[str, float]]] = {}
        for raw, queue, delay in items:
            ready, delayed = by_queue.setdefault(queue, ([], {}))
            envelope = f"0|{os.urandom(8).hex()}|{raw}"
            if delay <= 0:
                ready.append(envelope)
            else:
                delayed[envelope] = now + delay
        try:
            pipe = self.client.pipeline(transaction=not _is_cluster(self.client))
            for queue, (ready, delayed) in by_queue.items():
                ready_key, delayed_key, _ = self.keys(queue)
                for start in range(0, len(ready), PUSH_CHUNK):
                    pipe.rpush(ready_key, *ready[start : start + PUSH_CHUNK])
                scored = list(delayed.items())
                for start in range(0, len(scored), PUSH_CHUNK):
                    pipe.zadd(delayed_key, dict(scored[start : start + PUSH_CHUNK]))
            pipe.execute()
        except CLIENT_ERRORS as exc:
            self._fail(exc, f"push {len(items)} jobs to {', '.join(repr(q) for q in by_queue)}")

    def pop_many(self, queue: str | None = None, limit: int = 1) -> list[ReservedJob]:
        """Reserve up to ``limit`` jobs (at most 1000) from ``queue`` in one script call."""
        name = queue or self.default_queue
        if limit < 1:
            return []
        if self._watch is not None:
            self._watch()  # Sentinel: follow a new master within a quarter of a second
        now = self.clock()
        try:
            envelopes = self._reserve(
                self.keys(name),
                (_float(now), _float(now + self.retry_after), min(limit, MAX_BATCH), MAX_BATCH),
            )
        except CLIENT_ERRORS as exc:
            self._fail(exc, f"reserve a job from queue {name!r}")
        jobs: list[ReservedJob] = []
        connection = self.name
        for member in envelopes:
            jobs.append(_reserved(member, name, connection))
        return jobs

    def ack(self, job: ReservedJob) -> None:
        """Delete a reserved job (a single ZREM: no script needed)."""
        try:
            self.client.zrem(self.keys(job.queue)[2], job.extra["member"])
        except CLIENT_ERRORS as exc:
            self._fail(exc, f"acknowledge job {job.id!r} on queue {job.queue!r}")

    def ack_many(self, jobs: Sequence[ReservedJob]) -> None:
        """Delete many reserved jobs: one ZREM per queue, sent in one round trip."""
        by_queue: dict[str, list[Any]] = {}
        for job in jobs:
            by_queue.setdefault(job.queue, []).append(job.extra["member"])
        if not by_queue:
            return
        try:
            if len(by_queue) == 1:
                [(queue, members)] = by_queue.items()
                self.client.zrem(self.keys(queue)[2], *members)
                return
            pipe = self.client.pipeline(transaction=False)
            for queue, members in by_queue.items():
                pipe.zrem(self.keys(queue)[2], *members)
            pipe.execute()
        except CLIENT_ERRORS as exc:
            self._fail(exc, f"acknowledge {len(jobs)} jobs")

    def release(self, job: ReservedJob, delay: float = 0) -> None:
        """Put a reserved job back with ``job.attempts`` as its attempt count.

        With ``delay <= 0`` it goes to the head of the ready list (so returning
        unstarted jobs in reverse order keeps their order); otherwise it waits in the
        delayed set. A job no longer reserved (expired, acked) is left alone.
        """
        ready, delayed, reserved = self.keys(job.queue)
        envelope = f"{job.attempts}|{job.id}|{job.raw}"
        at = "" if delay <= 0 else _float(self.clock() + delay)
        try:
            self._release((reserved, ready, delayed), (job.extra["member"], envelope, at))
        except CLIENT_ERRORS as exc:
            self._fail(exc, f"release job {job.id!r} on queue {job.queue!r}")

    def extend(self, job: ReservedJob, seconds: float | None = None) -> bool:
        """Move the job's reservation deadline to now + ``seconds`` (default ``retry_after``);
        False when the job is no longer reserved."""
        deadline = self.clock() + (self.retry_after if seconds is None else seconds)
        try:
            return bool(self._extend((self.keys(job.queue)[2],), (job.extra["member"], _float(deadline))))
        except CLIENT_ERRORS as exc:
            self._fail(exc, f"extend the reservation of job {job.id!r}")

    def counts(self, queue: str | None = None) -> tuple[int, int, int]:
        """``(ready, delayed, reserved)`` on ``queue`` (one round trip; due delayed jobs count as
        delayed until a worker moves them)."""
        name = self.queue_name(queue)
        ready, delayed, reserved = self.keys(name)
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.llen(ready)
            pipe.zcard(delayed)
            pipe.zcard(reserved)
            counted = [int(n) for n in pipe.execute()]
        except CLIENT_ERRORS as exc:
            self._fail(exc, f"count the jobs of queue {name!r}")
        return counted[0], counted[1], counted[2]

    def describe(self) -> str:
        """The server address, ``redis://host:port/db``."""
        return redis_address(self.client)

    def queue_names(self) -> list[str]:
        """Queues with keys under this prefix (a SCAN), and the default queue."""
        names = {self.default_queue}
        try:
            for key in self.client.scan_iter(match=f"{self.prefix}:{{*}}:*", count=1000):
                text = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
                names.add(text[len(self.prefix) + 2 :].rsplit("}:", 1)[0])
        except CLIENT_ERRORS as exc:
            self._fail(exc, "list the queues")
        return sorted(names)

    def size(self, queue: str | None = None) -> int:
        """Ready + delayed + reserved jobs on ``queue`` (one round trip)."""
        name = self.queue_name(queue)
        ready, delayed, reserved = self.keys(name)
        if self._watch is not None:
            self._watch()
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.llen(ready)
            pipe.zcard(delayed)
            pipe.zcard(reserved)
            return sum(int(n) for n in pipe.execute())
        except CLIENT_ERRORS as exc:
            self._fail(exc, f"count the jobs of queue {name!r}")

    def clear(self, queue: str | None = None) -> int:
        """Delete every job on ``queue``; return how many were deleted."""
        name = self.queue_name(queue)
        try:
            return int(self._clear(self.keys(name), ()))
        except CLIENT_ERRORS as exc:
            self._fail(exc, f"clear queue {name!r}")

    # -- blocking -----------------------------------------------------------------------
    def wait(self, queues: Sequence[str], timeout: float, sleep: Callable[[float], Any] = time.sleep) -> None:
        """Block on the server until a job is ready, a delayed job or an expiring reservation
        falls due, or ``timeout`` seconds pass. With several queues, block on each in turn
        for at most ``WAIT_SLICE`` seconds (a blocking command cannot watch several
        lists without popping from them)."""
        names = list(queues) or [self.default_queue]
        try:
            block = self._time_to_next_job(names, timeout)
            end = time.monotonic() + block
            turn = 0
            while block > 0:
                ready = self.keys(names[turn % len(names)])[0]
                step = block if len(names) == 1 else min(block, WAIT_SLICE)
                if self._block_on(ready, step):
                    return
                turn += 1
                block = end - time.monotonic()
        except CLIENT_ERRORS as exc:
            self._fail(exc, f"wait for jobs on {', '.join(repr(n) for n in names)}")

    def _time_to_next_job(self, names: list[str], timeout: float) -> float:
        """Seconds until a job of ``names`` can be reserved (0 when one is ready), at most ``timeout``."""
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            ready, delayed, reserved = self.keys(name)
            pipe.llen(ready)
            pipe.zrange(delayed, 0, 0, withscores=True)
            pipe.zrange(reserved, 0, 0, withscores=True)
        replies = pipe.execute()
        block = timeout
        now = self.clock()
        for i in range(0, len(replies), 3):
            if replies[i]:
                return 0.0
            for first in (replies[i + 1], replies[i + 2]):
                if first:
                    block = min(block, first[0][1] - now)
        return max(0.0, block)

    def _block_on(self, ready: str, seconds: float) -> bool:
        """BLMOVE the tail of ``ready`` onto itself: wakes on a push and changes nothing.
        True when a job is ready, False after ``seconds``."""
        command: Any = self.client.execute_command  # the typed blmove() wants a whole-second timeout
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            started = time.monotonic()
            if command("BLMOVE", ready, ready, "RIGHT", "RIGHT", _block_timeout(self.client, left)):
                return True
            if time.monotonic() - started < left * 0.9:  # did not block (an emulator): poll gently
                time.sleep(min(left, 0.05))
        return False

    # -- workflows ----------------------------------------------------------------------
    def cancel_raw(self, job_id: str) -> str | None:
        """Find the waiting envelope of ``job_id`` (delayed set first, then the ready list, read
        in chunks on the client) and remove exactly that member; its payload, or None."""
        try:
            for name in {self.default_queue, *self._queue_names()}:
                ready, delayed, _ = self.keys(name)
                for member, _score in self.client.zscan_iter(delayed, match=f"*{job_id}*", count=500):
                    raw = _payload_of(_text(member), job_id)
                    if raw is not None and self.client.zrem(delayed, member):
                        return raw
                start = 0
                while True:
                    chunk = self.client.lrange(ready, start, start + CANCEL_CHUNK - 1)
                    for member in chunk:
                        raw = _payload_of(_text(member), job_id)
                        if raw is not None and self.client.lrem(ready, 1, member):  # type: ignore[arg-type]
                            return raw
                    if len(chunk) < CANCEL_CHUNK:
                        break
                    start += CANCEL_CHUNK
        except CLIENT_ERRORS as exc:
            self._fail(exc, f"cancel job {job_id!r}")
        return None

    def _queue_names(self) -> set[str]:
        """The queues of this prefix that hold waiting jobs (a SCAN of the server's keys)."""
        found: set[str] = set()
        start = len(self.prefix) + 2
        for suffix in ("}:ready", "}:delayed"):
            for key in self.client.scan_iter(match=f"{self.prefix}:{{*{suffix}", count=1000):
                found.add(_text(key)[start : -len(suffix)])
        return found

    def batches(self) -> BatchRepository:
        """Batches in redis hashes beside the queues (lua/batch_record.lua)."""
        if self._batch_repo is None:
            self._batch_repo = RedisBatches(self.client, self.prefix)
        return self._batch_repo

    def cache_config(self) -> dict[str, Any]:
        """A redis cache store on this connection's client, under ``<prefix>:cache``."""
        return {"driver": "redis", "client": self.client, "prefix": f"{self.prefix}:cache"}

    def close(self) -> None:
        """Close the client if this driver created it."""
        if self._owns_client:
            self.client.close()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value


def _payload_of(envelope: str, job_id: str) -> str | None:
    """The payload of ``envelope`` when it is the job ``job_id`` itself, else None."""
    raw = envelope.split("|", 2)[-1]
    return raw if payloads.is_job(raw, job_id) else None


def _is_cluster(client: Any) -> bool:
    return hasattr(client, "nodes_manager")


def _block_timeout(client: Any, block: float) -> float:
    """``block`` rounded up to the millisecond, kept under the client's socket timeout."""
    block = max(0.001, round(block + 0.0005, 3))
    try:
        socket_timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
    except AttributeError:
        socket_timeout = None
    if socket_timeout:
        block = min(block, max(0.001, float(socket_timeout) - 0.5))
    return block


def create(config: dict[str, Any], manager: Any = None) -> RedisQueue:
    """The factory registered as the ``redis`` queue driver."""
    return RedisQueue(
        redis_client(config),
        prefix=str(config.get("prefix") or "freight"),
        owns_client=config.get("client") is None,
        name=str(config.get("name") or ""),
        queue=str(config.get("queue") or "default"),
        retry_after=float(config.get("retry_after", 90)),
        key=config.get("key"),
        clock=clock_of(config, manager),
    )
