"""The worker's hooks for workflows: chains, batches, unique locks and middleware.

The :class:`~freight.queue.runner.Runner` asks :meth:`Workflow.applies` once per job; a
plain job (no middleware, and no ``chain``, ``batch`` or ``unique`` payload field) skips
everything here. For the others:

* :meth:`handle` releases a ``unique_until = "processing"`` lock, binds ``self.batch()``,
  and runs ``handle()`` through the job's middleware; a job held back by a middleware
  gets this try back (``attempts - 1``) before the runner releases it;
* :meth:`succeeded` (before the ack): the next job of the chain is pushed, the batch
  counts the job, the unique lock is released;
* :meth:`failed` (when the job failed for good, next to its ``failed()`` hook): the
  chain's ``catch`` job is pushed, the batch counts a failure, the unique lock is released.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from freight.queue import batch, chain, unique
from freight.queue.batch import Batch, BatchState
from freight.queue.job import Job
from freight.queue.middleware import pipeline

if TYPE_CHECKING:
    from freight.queue.drivers.base import Queue
    from freight.queue.outcomes import Running

__all__ = ["Workflow"]

log = logging.getLogger("freight.worker")


class Workflow:
    """Chains, batches, unique locks and middleware around one connection's jobs."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self._middleware: dict[type, bool] = {}

    def applies(self, payload: dict[str, Any], cls: type[Job]) -> bool:
        """True when the job needs any of this (a few dict lookups for a plain job)."""
        uses = self._middleware.get(cls)
        if uses is None:
            uses = self._middleware[cls] = cls.middleware is not Job.middleware
        return (
            uses
            or "chain" in payload
            or "chain_catch" in payload
            or "batch" in payload
            or "unique" in payload
        )

    def handle(self, running: Running, instance: Job) -> None:
        """Run ``instance.handle()`` with its unique lock, batch and middleware seen to."""
        payload = running.payload
        held = payload.get("unique")
        if isinstance(held, dict) and held.get("until") == "processing":
            unique.release(self.queue, held)
        member = payload.get("batch")
        if isinstance(member, dict):
            instance.current_batch = Batch.bound(self.queue, BatchState(str(member["id"])))
        middleware = instance.middleware()
        if not middleware:
            instance.handle()
        elif pipeline.run(middleware, instance, self.queue, running.timeout) and self.queue.honours_delays:
            running.job.attempts -= 1  # held back by a middleware: this try does not count

    def succeeded(self, running: Running, *, defer_batch: bool = False) -> None:
        """The job succeeded (it is acknowledged after this returns). With ``defer_batch`` its
        batch counts it in :meth:`count_done`, with the other jobs of the same batch of acks."""
        payload = running.payload
        if "chain" in payload:
            chain.push_next(self.queue, payload)
        member = payload.get("batch")
        if not defer_batch and isinstance(member, dict) and "callback" not in member:
            batch.settle(self.queue, str(member["id"]), [running.job_id], False)
        held = payload.get("unique")
        if isinstance(held, dict):
            unique.release(self.queue, held)

    def count_done(self, finished: list[Running]) -> list[Running]:
        """Before a batch of acks: count the batch members among ``finished`` with one atomic
        operation per batch (one script call, or one UPDATE, instead of one per job); returns
        the jobs that may be acknowledged (a batch that could not be counted keeps its jobs
        reserved: they run again and are counted then)."""
        groups: dict[str, list[Running]] = {}
        for running in finished:
            member = running.payload.get("batch")
            if isinstance(member, dict) and "callback" not in member:
                groups.setdefault(str(member["id"]), []).append(running)
        if not groups:
            return finished
        kept = list(finished)
        for batch_id, members in groups.items():
            try:
                batch.settle(self.queue, batch_id, [m.job_id for m in members], False)
            except Exception:
                log.exception(
                    "cannot count %d finished jobs of batch %s; they will run again", len(members), batch_id
                )
                dropped = {id(m) for m in members}
                kept = [r for r in kept if id(r) not in dropped]
        return kept

    def failed(self, running: Running, error: BaseException) -> None:
        """The job failed for good (called beside its ``failed()`` hook, before the ack)."""
        payload = running.payload
        steps: tuple[tuple[Callable[[], None], str], ...] = (
            (lambda: chain.push_catch(self.queue, payload), "push the chain's catch job"),
            (lambda: self._settle_failed(running), "count the failure in its batch"),
            (lambda: self._release(payload), "release its unique lock"),
        )
        for step, what in steps:
            try:
                step()
            except Exception:
                log.exception("job %s %s failed for good; could not %s", running.name, running.job_id, what)

    def _settle_failed(self, running: Running) -> None:
        member = running.payload.get("batch")
        if isinstance(member, dict) and "callback" not in member:
            batch.settle(self.queue, str(member["id"]), [running.job_id], True)

    def _release(self, payload: dict[str, Any]) -> None:
        held = payload.get("unique")
        if isinstance(held, dict):
            unique.release(self.queue, held)
