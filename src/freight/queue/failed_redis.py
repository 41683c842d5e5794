"""The ``redis`` failed-job store: a hash of records and a sorted set ordering them.

Keys, under ``prefix`` (default ``freight:failed``) wrapped in a hash tag so both land
in one Redis Cluster slot::

    {freight:failed}:jobs   HASH  id -> JSON {id, connection, queue, payload, exception, failed_at}
    {freight:failed}:index  ZSET  id scored by failed_at
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from freight import redis_errors
from freight.connections import redis_address, redis_client
from freight.errors import QUEUE_ERRORS
from freight.manager import clock_of
from freight.queue.failed import FailedJob, FailedJobStore, corrupt_record, describe_exception, record_id

if TYPE_CHECKING:
    import redis

__all__ = ["RedisFailedJobStore", "create"]


class RedisFailedJobStore(FailedJobStore):
    """Failed jobs in Redis."""

    driver = "redis"

    def __init__(
        self, client: redis.Redis, prefix: str = "freight:failed", clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(clock)
        self.client = client
        self.prefix = prefix
        self.jobs_key = f"{{{prefix}}}:jobs"
        self.index_key = f"{{{prefix}}}:index"

    @contextmanager
    def _errors(self, action: str = "answer") -> Iterator[None]:
        """Translate redis-py errors of the block (the redis family's one map)."""
        try:
            yield
        except redis_errors.CLIENT_ERRORS as exc:
            who = f"failed-job store (redis {redis_address(self.client)}, prefix {self.prefix!r})"
            raise redis_errors.translate(exc, QUEUE_ERRORS, who, action, self.client) from exc

    @staticmethod
    def _record(raw: Any, id: Any = "?") -> FailedJob:
        key = id.decode("utf-8", "replace") if isinstance(id, bytes) else str(id)
        try:
            data = json.loads(raw)
            fields = (data["id"], data["connection"], data["queue"], data["payload"], data["exception"])
            if not all(isinstance(f, str) for f in fields):
                raise TypeError("a field is not text")
            return FailedJob(*fields, failed_at=float(data["failed_at"]))
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            return corrupt_record(key, text, f"unreadable record: {exc!r}")

    def log(self, connection: str, queue: str, payload: str, exc: BaseException) -> str:
        """Record one failed job (one MULTI/EXEC); returns its id."""
        new_id = record_id(payload)
        with self._errors():
            kept = self.client.hget(self.jobs_key, new_id)
        if kept is not None and self._record(kept, new_id).payload != payload:
            new_id = self.new_id()  # another payload claims that uuid: keep both
        failed_at = self.clock()
        record = json.dumps(
            {
                "id": new_id,
                "connection": connection,
                "queue": queue,
                "payload": payload,
                "exception": describe_exception(exc),
                "failed_at": failed_at,
            }
        )
        with self._errors():
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(self.jobs_key, new_id, record)
            pipe.zadd(self.index_key, {new_id: failed_at})
            pipe.execute()
        return new_id

    def all(self) -> list[FailedJob]:
        """Every failed job, newest first."""
        with self._errors():
            ids: list[Any] = list(self.client.zrevrange(self.index_key, 0, -1))
            raws: list[Any] = list(self.client.hmget(self.jobs_key, ids)) if ids else []
        return [self._record(raw, id) for id, raw in zip(ids, raws, strict=True) if raw is not None]

    def find(self, id: str) -> FailedJob | None:
        """The failed job with ``id``, or None."""
        with self._errors():
            raw = self.client.hget(self.jobs_key, id)
        return self._record(raw, id) if raw is not None else None

    def forget(self, id: str) -> bool:
        """Delete one failed job."""
        with self._errors():
            pipe = self.client.pipeline(transaction=True)
            pipe.hdel(self.jobs_key, id)
            pipe.zrem(self.index_key, id)
            deleted, _ = pipe.execute()
        return bool(deleted)

    def flush(self) -> int:
        """Delete every failed job under this prefix."""
        with self._errors():
            pipe = self.client.pipeline(transaction=True)
            pipe.hlen(self.jobs_key)
            pipe.delete(self.jobs_key, self.index_key)
            count, _ = pipe.execute()
        return int(count)

    def count(self) -> int:
        """How many failed jobs are recorded."""
        with self._errors():
            return int(self.client.hlen(self.jobs_key))

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    def __repr__(self) -> str:
        return f"<RedisFailedJobStore {redis_address(self.client)} prefix={self.prefix!r}>"


def create(config: dict[str, Any], manager: Any) -> RedisFailedJobStore:
    """Factory: ``url``/``client``/host-port-db (as redis connections), ``prefix``."""
    client = redis_client(config, driver="redis")
    return RedisFailedJobStore(
        client, str(config.get("prefix") or "freight:failed"), clock_of(config, manager)
    )
