"""Redis failovers under a running worker (issue 16): no job is lost.

* Redis Cluster: a worker drains 20,000 jobs while the master holding the queue's slot is
  failed over (``CLUSTER FAILOVER`` on its replica); every job completes.
* Redis Sentinel: the same with ``SENTINEL FAILOVER`` (fewer jobs: a Sentinel failover
  takes seconds, not milliseconds). The demoted master accepts writes until the sentinels
  reconfigure it (seconds later); the worker asks the sentinels for the master once a
  second, so the jobs run twice are those in flight plus at most about a second of work.

Each test starts its own cluster or sentinel group (tests/serverkit.py, ports 17021-17133)
and stops it afterwards: a failover must not disturb tests running on the shared ones.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fault_jobs import Record
from faultkit import Processes, report, wait_until, worker_argv, worker_env
from faultsinks import Sink, duplicates
from queueworld import CONNECTION, World

import serverkit


def _cli(port: int, *args: str) -> str:
    return subprocess.run(
        ["redis-cli", "-h", serverkit.HOST, "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()


def _drain_through_failover(
    world: World,
    sink: Sink,
    procs: Processes,
    n: int,
    failover: Callable[[], None],
    timeout: float,
) -> tuple[list[str], float]:
    ids = world.push_many(Record(id=i) for i in range(n))
    assert world.size() == n
    argv = worker_argv(world.config_path, CONNECTION, world.queue, "--stop-when-empty", "--tries", "5", "-q")
    started = time.monotonic()
    worker = procs.start("worker", argv, env=worker_env(sink))
    wait_until(lambda: sink.count() >= n // 10, 60, "the worker to get going", 0.02, procs.logs)
    failover()
    assert worker.wait(timeout) == 0, worker.tail()
    elapsed = time.monotonic() - started
    done = sink.ids()
    lost = {str(i) for i in range(n)} - set(done)
    assert not lost, f"{len(lost)} jobs lost (e.g. {sorted(lost)[:5]})\n{procs.logs()}"
    assert world.size() == 0
    assert len(ids) == n
    return done, elapsed


@pytest.fixture
def own_cluster(redis_url: str) -> Iterator[list[str]]:
    """A private 3-master cluster with replicas, stopped after the test."""
    if serverkit.shutil.which("redis-cli") is None:
        pytest.skip("redis-cli is not installed")
    ports = serverkit.FAILOVER_CLUSTER_PORTS
    serverkit.start_cluster(ports)
    yield [f"{serverkit.HOST}:{p}" for p in ports]
    serverkit.stop(ports)


@pytest.fixture
def own_sentinels(redis_url: str) -> Iterator[list[str]]:
    """A private master, replica and three sentinels, stopped after the test."""
    if serverkit.shutil.which("redis-cli") is None:
        pytest.skip("redis-cli is not installed")
    setup = serverkit.FAILOVER_SENTINEL
    serverkit.start_sentinel(setup)
    yield [f"{serverkit.HOST}:{p}" for p in setup[2]]
    serverkit.stop((setup[0], setup[1], *setup[2]))


def test_cluster_failover_under_a_worker_loses_no_job(
    own_cluster: list[str],
    redis_url: str,
    make_world: Callable[..., World],
    make_sink: Callable[[str, str], Sink],
    procs: Processes,
    tmp_path: Path,
) -> None:
    """20,000 jobs, CLUSTER FAILOVER of the queue's master mid-drain: all run."""
    world = make_world("redis", "redis+cluster://" + ",".join(own_cluster))
    first = serverkit.FAILOVER_CLUSTER_PORTS[0]
    sink = make_sink("redis", redis_url)
    n = 20_000
    slot = int(_cli(first, "cluster", "keyslot", f"freight:{{{world.queue}}}:ready"))
    swapped: list[str] = []

    def failover() -> None:
        nodes = [line.split() for line in _cli(first, "cluster", "nodes").splitlines()]
        master = next(
            n
            for n in nodes
            if "master" in n[2]
            and any(
                int(r.split("-")[0]) <= slot <= int(r.split("-")[-1]) for r in n[8:] if not r.startswith("[")
            )
        )
        replica = next(n for n in nodes if n[3] == master[0])
        port = int(replica[1].split("@")[0].rsplit(":", 1)[1])
        assert _cli(port, "cluster", "failover") == "OK"
        wait_until(lambda: "role:master" in _cli(port, "info", "replication"), 20, "the replica to take over")
        swapped.append(f"{master[1]} -> {replica[1]}")

    done, elapsed = _drain_through_failover(world, sink, procs, n, failover, timeout=180)
    report("cluster_failover", jobs=n, duplicates=duplicates(done), seconds=round(elapsed, 2), swap=swapped)
    wait_until(lambda: serverkit.cluster_healthy(serverkit.FAILOVER_CLUSTER_PORTS), 30, "a healthy cluster")


def test_sentinel_failover_under_a_worker_loses_no_job(
    own_sentinels: list[str],
    redis_url: str,
    make_world: Callable[..., World],
    make_sink: Callable[[str, str], Sink],
    procs: Processes,
) -> None:
    """5,000 jobs, SENTINEL FAILOVER mid-drain: all run; duplicates stay a small fraction."""
    # jobs reserved on the old master come back after retry_after: keep it short
    url = "redis+sentinel://" + ",".join(own_sentinels) + f"/{serverkit.SERVICE}/0"
    world = make_world("redis", url, retry_after=3)
    setup = serverkit.FAILOVER_SENTINEL
    sink = make_sink("redis", redis_url)
    n = 5_000
    before = serverkit.sentinel_master(setup)

    def failover() -> None:
        assert _cli(setup[2][0], "sentinel", "failover", serverkit.SERVICE) == "OK"
        wait_until(lambda: serverkit.sentinel_master(setup) != before, 30, "the sentinels to switch masters")

    world.push_many(Record(id=i) for i in range(n))
    argv = worker_argv(world.config_path, CONNECTION, world.queue, "--tries", "5", "--sleep", "0.1", "-q")
    started = time.monotonic()
    worker = procs.start("worker", argv, env=worker_env(sink))
    wait_until(lambda: sink.count() >= n // 10, 60, "the worker to get going", 0.02, procs.logs)
    failover()
    # the producer's client follows the sentinels too: size() reads the new master
    wait_until(lambda: len(set(sink.ids())) >= n and world.size() == 0, 120, "every job", 0.1, procs.logs)
    elapsed = time.monotonic() - started
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.tail()
    done = sink.ids()
    assert set(done) == {str(i) for i in range(n)}
    dups = duplicates(done)
    report("sentinel_failover", jobs=n, duplicates=dups, seconds=round(elapsed, 2))
