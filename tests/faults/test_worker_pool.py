"""``python -m freight work --processes 3`` (issue 16): a SIGKILLed worker is replaced, every
job runs, and SIGTERM ends the pool with exit code 0."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from fault_jobs import Record
from faultkit import Processes, report, wait_until, worker_argv, worker_env
from faultsinks import Sink, duplicates
from queueworld import CONNECTION, World


def children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (Linux /proc)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def test_processes_3_replaces_a_killed_worker_runs_every_job_and_stops_with_0(
    redis_url: str,
    make_world: Callable[..., World],
    make_sink: Callable[[str, str], Sink],
    procs: Processes,
) -> None:
    n = 3000
    world = make_world("redis", redis_url, retry_after=2)
    sink = make_sink("redis", redis_url)
    world.push_many(Record(id=i, work=0.001) for i in range(n))
    argv = worker_argv(world.config_path, CONNECTION, world.queue, "--processes", "3", "--sleep", "0.1", "-q")
    pool = procs.start("pool", argv, env=worker_env(sink))
    first = wait_until(lambda: len(children(pool.pid)) == 3 and children(pool.pid), 30, "3 workers", 0.05)
    wait_until(lambda: sink.count() >= n // 10, 60, "jobs to run", 0.02, procs.logs)
    victim = first[1]
    os.kill(victim, signal.SIGKILL)
    replaced = wait_until(
        lambda: len(now := children(pool.pid)) == 3 and victim not in now and now, 30, "a replacement", 0.05
    )
    assert len(set(replaced) - set(first)) == 1
    wait_until(lambda: len(set(sink.ids())) >= n, 90, "every job to run", 0.1, procs.logs)
    wait_until(lambda: world.size() == 0, 30, "the queue to drain", 0.05, procs.logs)
    started = time.monotonic()
    pool.signal(signal.SIGTERM)
    assert pool.wait(30) == 0, pool.tail()
    assert children(pool.pid) == []
    done = sink.ids()
    assert set(done) == {str(i) for i in range(n)}
    report(
        "processes_3", jobs=n, duplicates=duplicates(done), stop_seconds=round(time.monotonic() - started, 2)
    )


def test_sighup_restarts_every_worker_one_at_a_time(
    redis_url: str, make_world: Callable[..., World], procs: Processes
) -> None:
    world = make_world("redis", redis_url)
    argv = worker_argv(world.config_path, CONNECTION, world.queue, "--processes", "2", "--sleep", "0.1", "-q")
    pool = procs.start("pool", argv, env=worker_env())
    first = wait_until(lambda: len(children(pool.pid)) == 2 and children(pool.pid), 30, "2 workers", 0.05)
    seen: set[int] = set(first)
    pool.signal(signal.SIGHUP)

    def all_replaced() -> bool:
        now = children(pool.pid)
        seen.update(now)
        assert len(now) >= 1, "a rolling restart keeps a worker running"
        return len(now) == 2 and not set(now) & set(first)

    wait_until(all_replaced, 60, "both workers to be replaced", 0.02, procs.logs)
    assert len(seen) == 4
    pool.signal(signal.SIGTERM)
    assert pool.wait(30) == 0, pool.tail()


def test_autoscale_grows_with_the_backlog_and_shrinks_when_idle(
    redis_url: str, make_world: Callable[..., World], make_sink: Callable[[str, str], Sink], procs: Processes
) -> None:
    world = make_world("redis", redis_url)
    sink = make_sink("redis", redis_url)
    world.push_many(Record(id=i, work=0.01) for i in range(600))  # ~6 s of work for one worker
    argv = worker_argv(
        world.config_path,
        CONNECTION,
        world.queue,
        "--autoscale",
        "1,3",
        "--cooldown",
        "0.5",
        "--max-wait",
        "1",
    )
    pool = procs.start("pool", [*argv, "--sleep", "0.1", "-q"], env=worker_env(sink))
    wait_until(lambda: len(children(pool.pid)) == 3, 30, "the pool to grow to 3", 0.05, procs.logs)
    wait_until(lambda: world.size() == 0, 60, "the backlog to drain", 0.1, procs.logs)
    wait_until(lambda: len(children(pool.pid)) == 1, 30, "the pool to shrink to 1", 0.05, procs.logs)
    pool.signal(signal.SIGTERM)
    assert pool.wait(30) == 0, pool.tail()
    assert len(set(sink.ids())) == 600
