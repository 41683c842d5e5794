"""Chains: jobs that run one after another, each once the previous one succeeded.

``Chain([Fetch(id=1), Resize(id=1), Publish(id=1)]).catch(Alert(id=1)).dispatch()``
pushes the first job with the rest of the chain inside its payload (``chain``: the
later jobs' payloads; ``chain_catch``: the catch job's), so a chain needs no state of its
own and survives a worker crash like any job. When a job of the chain succeeds, the
worker pushes the next one (carrying the rest) before it acknowledges the current one;
when one fails for good, the chain stops and its ``catch`` job is pushed, once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from freight.current import current_app
from freight.errors import QueueError
from freight.queue import payload as payloads
from freight.timeutil import seconds_from

if TYPE_CHECKING:
    from freight.queue.drivers.base import Queue
    from freight.queue.job import Job

__all__ = ["Chain", "push_catch", "push_next"]


class Chain:
    """A sequence of jobs run in order; ``catch`` runs if one of them fails for good."""

    def __init__(self, jobs: Iterable[Job]) -> None:
        self.jobs: list[Job] = list(jobs)
        if not self.jobs:
            raise QueueError("a chain needs at least one job")
        self._catch: Job | None = None

    def catch(self, job: Job) -> Chain:
        """Push ``job`` once if a job of the chain fails for good (the chain then stops)."""
        self._catch = job
        return self

    def dispatch(self, connection: Queue | None = None) -> str | None:
        """Push the first job on ``connection`` (default: the current Application's connection
        of the first job) with the rest of the chain in its payload; returns its id."""
        first = self.jobs[0]
        if connection is None:
            connection = current_app().queue().connection(first.connection)
        now = connection.clock()
        extra: dict[str, Any] = {"chain": [_step(job, connection, now) for job in self.jobs[1:]]}
        if self._catch is not None:
            extra["chain_catch"] = _step(self._catch, connection, now)
        first.extra_payload = {**(first.extra_payload or {}), **extra}
        return connection.push(first)


def _step(job: Job, queue: Queue, now: float) -> dict[str, Any]:
    step = payloads.build(job, job.queue or queue.default_queue, now)
    if job.delay:
        step["chain_delay"] = seconds_from(job.delay, now)
    return step


def _push(queue: Queue, step: dict[str, Any], extra: dict[str, Any]) -> None:
    step = {**step, **extra}
    delay = float(step.pop("chain_delay", 0) or 0)
    step["created_at"] = queue.clock()
    queue.push_raw(payloads.dumps(step, queue.signer), str(step.get("queue") or queue.default_queue), delay)


def push_next(queue: Queue, payload: dict[str, Any]) -> None:
    """Push the job after the one whose ``payload`` just succeeded (with the rest of the chain)."""
    steps = payload.get("chain")
    if not steps:
        return
    extra: dict[str, Any] = {}
    if len(steps) > 1:
        extra["chain"] = steps[1:]
    if payload.get("chain_catch"):
        extra["chain_catch"] = payload["chain_catch"]
    _push(queue, steps[0], extra)


def push_catch(queue: Queue, payload: dict[str, Any]) -> None:
    """Push the chain's catch job after the job whose ``payload`` failed for good."""
    catch = payload.get("chain_catch")
    if catch:
        _push(queue, catch, {})
