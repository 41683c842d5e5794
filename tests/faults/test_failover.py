"""Redis failovers under a running worker (issue 16): no job is lost.

* Redis Cluster: a worker drains 20,000 jobs while the master holding the queue's slot is
  failed over (``CLUSTER FAILOVER`` on its replica); every job completes.
* Redis Sentinel: the same with ``SENTINEL FAILOVER`` (fewer jobs: a Sentinel failover
  takes seconds, not milliseconds); duplicates are reported, and bounded by the jobs a
  worker can run while the old master still accepts writes.

Both use the shared scale-out servers (tests/serverkit.py); each leaves them healthy,
with the roles swapped.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

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


def test_cluster_failover_under_a_worker_loses_no_job(
    redis_cluster_nodes: list[str],
    redis_url: str,
    make_world: Callable[..., World],
    make_sink: Callable[[str, str], Sink],
    procs: Processes,
    tmp_path: Path,
) -> None:
    """20,000 jobs, CLUSTER FAILOVER of the queue's master mid-drain: all run."""
    world = make_world("redis", "redis+cluster://" + ",".join(redis_cluster_nodes))
    sink = make_sink("redis", redis_url)
    n = 20_000
    slot = int(_cli(serverkit.CLUSTER_PORTS[0], "cluster", "keyslot", f"freight:{{{world.queue}}}:ready"))
    swapped: list[str] = []

    def failover() -> None:
        nodes = [line.split() for line in _cli(serverkit.CLUSTER_PORTS[0], "cluster", "nodes").splitlines()]
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
    wait_until(serverkit.cluster_healthy, 30, "the cluster to be healthy again")


def test_sentinel_failover_under_a_worker_loses_no_job(
    redis_sentinels: list[str],
    redis_url: str,
    make_world: Callable[..., World],
    make_sink: Callable[[str, str], Sink],
    procs: Processes,
) -> None:
    """5,000 jobs, SENTINEL FAILOVER mid-drain: all run; duplicates stay a small fraction."""
    world = make_world("redis", "redis+sentinel://" + ",".join(redis_sentinels) + f"/{serverkit.SERVICE}/0")
    sink = make_sink("redis", redis_url)
    n = 5_000
    before = serverkit.sentinel_master()

    def failover() -> None:
        assert _cli(serverkit.SENTINEL_PORTS[0], "sentinel", "failover", serverkit.SERVICE) == "OK"
        wait_until(lambda: serverkit.sentinel_master() != before, 30, "the sentinels to switch masters")

    done, elapsed = _drain_through_failover(world, sink, procs, n, failover, timeout=180)
    dups = duplicates(done)
    report("sentinel_failover", jobs=n, duplicates=dups, seconds=round(elapsed, 2))
    assert dups <= n // 5, f"{dups} duplicates"
    wait_until(serverkit.sentinel_healthy, 60, "the sentinel setup to be healthy again")
