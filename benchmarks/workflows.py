"""Workflow costs on redis: the plain drain with the workflow hooks present, and a batch drain.

    python -m benchmarks.workflows [--n 10000] [--rounds 5] [--redis redis://127.0.0.1:6379/0]

Three cases, each a :class:`~freight.Worker` draining ``n`` no-op jobs in this process
(``stop_when_empty``), measured in interleaved rounds (every case once per round, in a
rotating order, so a slower moment of the machine lands on all of them) and reported as the median jobs/s:

* ``plain``: ``n`` plain jobs (the workflow hooks are present but unused: each job pays
  :meth:`Workflow.applies`);
* ``plain, hooks off``: the same with the runner told that no job uses workflows, i.e.
  the drain as it was before workflows existed; ``plain`` / ``hooks off`` is the cost of
  the machinery for jobs that do not use it (target: at least 0.97);
* ``batch``: one batch of ``n`` jobs (each job also runs the batch's Lua count script).

Pushes are not timed (``bulk``). Keys live under a run prefix and are deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from freight import Batch, Job, QueueManager, Worker

__all__ = ["CASES", "NoopJob", "measure", "run"]


class NoopJob(Job):
    """Does nothing."""

    def handle(self) -> None:
        """Nothing."""


def _drain(manager: QueueManager, hooks: bool) -> int:
    worker = Worker(manager, stop_when_empty=True, memory=0)
    if not hooks:
        worker.runner.uses_workflow = _never  # type: ignore[method-assign]
    worker.run()
    return worker.processed


def _never(running: Any) -> bool:
    return False


def _plain(manager: QueueManager, n: int) -> None:
    manager.connection().bulk([NoopJob() for _ in range(n)])


def _batch(manager: QueueManager, n: int) -> None:
    Batch([NoopJob() for _ in range(n)]).dispatch(manager.connection())


#: name -> (push, whether the workflow hooks are on)
CASES: dict[str, tuple[Callable[[QueueManager, int], None], bool]] = {
    "plain": (_plain, True),
    "plain, hooks off": (_plain, False),
    "batch": (_batch, True),
}


def measure(manager: QueueManager, case: str, n: int) -> float:
    """Jobs per second of one drain of ``n`` jobs for ``case``."""
    push, hooks = CASES[case]
    push(manager, n)
    started = time.perf_counter()
    processed = _drain(manager, hooks)
    elapsed = time.perf_counter() - started
    if processed != n:
        raise RuntimeError(f"{case}: the worker ran {processed} jobs, expected {n}")
    return n / elapsed


def run(
    n: int, rounds: int, connection: dict[str, Any], progress: Callable[[str], Any] = print
) -> dict[str, float]:
    """Median jobs/s of every case over ``rounds`` interleaved rounds."""
    manager = QueueManager(
        {
            "default": "bench",
            "connections": {"bench": connection},
            "failed": {k: v for k, v in connection.items() if k in ("driver", "url", "client")},
        }
    )
    rates: dict[str, list[float]] = {case: [] for case in CASES}
    try:
        for index in range(rounds):
            names = list(CASES)
            order = names[index % len(names) :] + names[: index % len(names)]  # every case in every slot
            for case in order:
                rates[case].append(measure(manager, case, n))
            progress(f"round {index + 1}: " + ", ".join(f"{c} {rates[c][-1]:,.0f}/s" for c in CASES))
    finally:
        _cleanup(manager)
    return {case: statistics.median(values) for case, values in rates.items()}


def _cleanup(manager: QueueManager) -> None:
    queue: Any = manager.connection()
    client, prefix = queue.client, queue.prefix
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    manager.purge()


def main(argv: Sequence[str] | None = None) -> int:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.workflows", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--n", type=int, default=10_000, help="jobs per drain (default 10,000)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--redis", default=os.environ.get("FREIGHT_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args(argv)
    prefix = f"bench-wf-{uuid.uuid4().hex[:8]}"
    medians = run(args.n, args.rounds, {"driver": "redis", "url": args.redis, "prefix": prefix})
    print(f"median of {args.rounds} rounds, {args.n:,} jobs each (in-process worker, redis):")
    for case, rate in medians.items():
        print(f"  {case:18} {rate:10,.0f} jobs/s")
    print(f"  plain / hooks off  {medians['plain'] / medians['plain, hooks off']:.3f}  (target >= 0.97)")
    print(f"  batch / plain      {medians['batch'] / medians['plain']:.3f}")
    return 0


if __name__ == "__main__":  # run as the importable module, so the worker can name NoopJob
    from benchmarks.workflows import main as run_main

    raise SystemExit(run_main())
