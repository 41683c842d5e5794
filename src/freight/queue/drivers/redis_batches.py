"""Batches of the redis queue driver: one hash per batch, counted by one Lua script per job.

Keys (``<prefix>`` is the connection's prefix)::

    <prefix>:batch:{<id>}        HASH  the batch's fields (see lua/batch_record.lua)
    <prefix>:batch:{<id>}:done   SET   ids of the jobs counted so far (deleted when finished)
    <prefix>:batches             ZSET  batch ids scored by creation time (listing, pruning)

Both keys of a batch carry the hash tag ``{<id>}``, so the script stays in one Cluster
slot; the index is written by its own command.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from freight.errors import QueueConnectionError, QueueError
from freight.lua import register
from freight.queue.batch import BatchRepository, BatchState, Tally

__all__ = ["RedisBatches"]


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


class RedisBatches(BatchRepository):
    """Batch state in redis hashes; ``record`` is one script call per finished job."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.index = f"{prefix}:batches"
        self._record = register(client, "freight.queue.drivers", "batch_record")

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Translate redis-py's errors into freight's at this boundary."""
        import redis.exceptions as errors

        try:
            yield
        except (errors.ConnectionError, errors.TimeoutError) as exc:
            raise QueueConnectionError(f"cannot {action}: redis is unreachable: {exc}") from exc
        except errors.RedisError as exc:
            raise QueueError(f"cannot {action}: {exc}") from exc

    def _key(self, batch_id: str) -> str:
        return f"{self.prefix}:batch:{{{batch_id}}}"

    def create(self, state: BatchState) -> None:
        """HSET the batch's fields, then index it."""
        with self._errors(f"store batch {state.id}"):
            fields = {
                "name": state.name,
                "total": state.total,
                "pending": state.pending,
                "failed": state.failed,
                "options": state.options_json(),
                "allow_failures": "1" if state.options.get("allow_failures") else "0",
                "created_at": repr(state.created_at),
            }
            if state.finished_at is not None:
                fields["finished_at"] = repr(state.finished_at)
            self.client.hset(self._key(state.id), mapping=fields)
            self.client.zadd(self.index, {state.id: state.created_at})

    def find(self, batch_id: str) -> BatchState | None:
        """HGETALL of the batch's hash."""
        with self._errors(f"read batch {batch_id}"):
            raw = self.client.hgetall(self._key(batch_id))
            if not raw:
                return None
            fields = {_text(k): _text(v) for k, v in raw.items()}
            return BatchState(
                batch_id,
                fields.get("name", ""),
                int(fields.get("total", 0)),
                int(fields.get("pending", 0)),
                int(fields.get("failed", 0)),
                json.loads(fields.get("options") or "{}"),
                float(fields.get("created_at", 0)),
                _float(fields.get("cancelled_at")),
                _float(fields.get("finished_at")),
            )

    def add_jobs(self, batch_id: str, count: int) -> None:
        """HINCRBY total and pending in one transaction (one slot)."""
        with self._errors(f"add jobs to batch {batch_id}"):
            key = self._key(batch_id)
            if not self.client.exists(key):
                raise QueueError(f"batch {batch_id} does not exist (pruned?); cannot add jobs to it")
            pipe = self.client.pipeline(transaction=True)
            pipe.hincrby(key, "total", count)
            pipe.hincrby(key, "pending", count)
            pipe.execute()

    def record(self, batch_id: str, job_ids: Sequence[str], failed: bool, now: float) -> Tally | None:
        """One script call (lua/batch_record.lua) for all of ``job_ids``."""
        with self._errors(f"count jobs of batch {batch_id}"):
            if not job_ids:
                return None
            key = self._key(batch_id)
            reply = self._record(
                keys=[key, key + ":done"], args=["1" if failed else "0", repr(now), *job_ids]
            )
            if not reply:
                return None
            pending, failed_count, first, finished = (int(x) for x in reply)
            return Tally(pending, failed_count, bool(first), bool(finished))

    def cancel(self, batch_id: str, now: float) -> None:
        """HSETNX cancelled_at (the first cancellation's time stays)."""
        with self._errors(f"cancel batch {batch_id}"):
            key = self._key(batch_id)
            if self.client.exists(key):
                self.client.hsetnx(key, "cancelled_at", repr(now))

    def recent(self, limit: int = 50) -> list[BatchState]:
        """The newest ``limit`` batches of the index."""
        with self._errors("list batches"):
            ids = [_text(i) for i in self.client.zrevrange(self.index, 0, max(0, limit - 1))]
            found = [self.find(i) for i in ids]
            return [state for state in found if state is not None]

    def prune(self, before: float) -> int:
        """Delete finished batches older than ``before``, walking the index oldest first."""
        with self._errors("prune batches"):
            deleted = 0
            for raw_id in self.client.zrangebyscore(self.index, "-inf", before):
                batch_id = _text(raw_id)
                state = self.find(batch_id)
                if state is None:
                    self.client.zrem(self.index, batch_id)
                elif state.finished_at is not None and state.finished_at < before:
                    key = self._key(batch_id)
                    self.client.delete(key, key + ":done")
                    self.client.zrem(self.index, batch_id)
                    deleted += 1
            return deleted
