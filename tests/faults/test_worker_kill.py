"""Crashes and concurrency (issue 5, items 1 and 2).

1. A worker killed with SIGKILL mid-run: a new worker finishes the rest; every job
   completes at least once and the duplicates are at most the jobs that were reserved
   (in flight) at the kill.
2. Four worker processes on one queue: every job runs exactly once.

Jobs record their id in a completion sink (a redis list or a SQL table) apart from the
queue. Redis always runs the issue's counts (10,000 and 20,000 jobs: a few seconds); the
SQL databases run 2,000 and 3,000 by default and the issue's counts with
FREIGHT_FAULT_SCALE=full (about 30 s more on a 2-core machine).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
from fault_jobs import Record
from faultkit import Processes, report, scaled, wait_until, worker_argv, worker_env
from faultsinks import Sink, duplicates
from queueworld import CONNECTION, World


def sink_for(kind: str, url: str, make_sink: Callable[[str, str], Sink]) -> Sink:
    return make_sink("redis" if kind == "redis" else "sql", url)


def start_worker(procs: Processes, world: World, sink: Sink, name: str) -> Any:
    argv = worker_argv(world.config_path, CONNECTION, world.queue, "--sleep", "0.1", "--tries", "5", "-q")
    return procs.start(name, argv, env=worker_env(sink))


def wait_all_done(sink: Sink, ids: list[str], world: World, procs: Processes, timeout: float) -> list[str]:
    """Wait until every id was recorded and the queue is empty; the recorded ids."""
    expected = set(ids)

    def missing() -> str:
        seen = set(sink.ids())
        lost = expected - seen
        return f"{len(lost)} of {len(expected)} jobs never completed (e.g. {sorted(lost)[:5]}); " + (
            f"queue size {world.size()}\n{procs.logs()}"
        )

    wait_until(lambda: sink.count() >= len(ids), timeout, "every job to complete", 0.1, missing)
    wait_until(lambda: world.size() == 0, timeout, "the queue to drain", 0.05, missing)
    done = sink.ids()
    assert set(done) == expected, missing()
    return done


def seeded(
    kind: str,
    n: int,
    retry_after: float,
    backend_url: Callable[[str], str],
    make_world: Callable[..., World],
    make_sink: Callable[[str, str], Sink],
) -> tuple[World, Sink, list[str]]:
    """A queue on ``kind`` holding ``n`` Record jobs, the sink they report to, and their ids."""
    url = backend_url(kind)
    world = make_world(kind, url, retry_after=retry_after)
    sink = sink_for(kind, url, make_sink)
    ids = [f"job-{i}" for i in range(n)]
    world.push_many(Record({"id": i}) for i in ids)
    return world, sink, ids


@pytest.mark.parametrize("kind", ["redis", "postgres"])
def test_sigkill_mid_run_loses_no_job(
    kind: str,
    backend_url: Callable[[str], str],
    make_world: Callable[..., World],
    make_sink: Callable[[str, str], Sink],
    procs: Processes,
) -> None:
    n = 10_000 if kind == "redis" else scaled(10_000, 2_000)
    world, sink, ids = seeded(kind, n, 2, backend_url, make_world, make_sink)
    started = time.monotonic()
    first = start_worker(procs, world, sink, "worker-a")
    wait_until(lambda: sink.count() >= n // 3, 60, "a third of the jobs", 0.01, procs.logs)
    first.kill9()
    in_flight = world.reserved()
    done_at_kill = sink.count()
    second = start_worker(procs, world, sink, "worker-b")
    done = wait_all_done(sink, ids, world, procs, 90)
    elapsed = time.monotonic() - started
    second.signal(signal.SIGTERM)
    assert second.wait(15) == 0, second.tail()
    dup = duplicates(done)
    report(
        f"sigkill_mid_run[{kind}]",
        jobs=n,
        kills=1,
        done_at_kill=done_at_kill,
        in_flight_at_kill=in_flight,
        duplicates=dup,
        failed=world.failed.count(),
        seconds=round(elapsed, 1),
    )
    assert dup <= in_flight, f"{dup} duplicates but only {in_flight} jobs were in flight at the kill"
    assert world.failed.count() == 0


@pytest.mark.parametrize("kind", ["redis", "postgres", "mariadb"])
def test_four_workers_run_each_job_exactly_once(
    kind: str,
    backend_url: Callable[[str], str],
    make_world: Callable[..., World],
    make_sink: Callable[[str, str], Sink],
    procs: Processes,
) -> None:
    n = 20_000 if kind == "redis" else scaled(20_000, 3_000)
    world, sink, ids = seeded(kind, n, 60, backend_url, make_world, make_sink)
    started = time.monotonic()
    workers = [start_worker(procs, world, sink, f"worker-{w}") for w in range(4)]
    done = wait_all_done(sink, ids, world, procs, 120)
    elapsed = time.monotonic() - started
    for w in workers:
        w.signal(signal.SIGTERM)
    codes = [w.wait(15) for w in workers]
    per_worker: dict[int, int] = {}
    for record in sink.records():
        per_worker[record["pid"]] = per_worker.get(record["pid"], 0) + 1
    report(
        f"four_workers[{kind}]",
        jobs=n,
        workers=4,
        duplicates=duplicates(done),
        seconds=round(elapsed, 1),
        jobs_per_worker=sorted(per_worker.values()),
    )
    assert duplicates(done) == 0, f"{duplicates(done)} jobs ran more than once"
    assert codes == [0, 0, 0, 0], procs.logs()
    assert world.failed.count() == 0
