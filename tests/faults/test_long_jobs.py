"""Long jobs (issue 5, item 4): a job running 3x ``retry_after`` is not started by a second
worker, because the running worker keeps extending its reservation (heartbeat)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest
from fault_jobs import Slow
from faultkit import Processes, report, wait_until, worker_argv, worker_env
from faultsinks import Sink
from queueworld import CONNECTION, World

RETRY_AFTER = 1.0


@pytest.mark.parametrize("kind", ["redis", "postgres", "mariadb", "sqlite"])
def test_a_job_three_times_retry_after_runs_once(
    kind: str,
    backend_url: Callable[[str], str],
    make_world: Callable[..., World],
    make_sink: Callable[[str, str], Sink],
    procs: Processes,
    redis_url: str,
) -> None:
    world = make_world(kind, backend_url(kind), retry_after=RETRY_AFTER)
    sink = make_sink("redis", redis_url)
    world.push_many([Slow({"id": "long", "seconds": 3 * RETRY_AFTER})])
    argv = worker_argv(world.config_path, CONNECTION, world.queue, "--sleep", "0.1")
    started = time.monotonic()
    first = procs.start("worker-a", argv, env=worker_env(sink))
    wait_until(lambda: sink.count("start") >= 1, 20, "the long job to start", 0.02, procs.logs)
    second = procs.start("worker-b", argv, env=worker_env(sink))  # idle, polling the same queue
    wait_until(lambda: sink.count("done") >= 1, 20, "the long job to finish", 0.05, procs.logs)
    wait_until(lambda: world.size() == 0, 10, "the queue to drain", 0.05, procs.logs)
    time.sleep(RETRY_AFTER)  # past a reservation deadline that nobody extended any more
    starts = sink.records()
    elapsed = time.monotonic() - started
    for w in (first, second):
        w.signal(signal.SIGTERM)
    codes = [w.wait(15) for w in (first, second)]
    report(
        f"long_job[{kind}]",
        retry_after=RETRY_AFTER,
        job_seconds=3 * RETRY_AFTER,
        starts=sink.count("start"),
        seconds=round(elapsed, 1),
    )
    assert sink.count("start") == 1, f"the long job was started more than once: {starts}\n{procs.logs()}"
    assert sink.count("done") == 1
    assert world.failed.count() == 0, [f.summary for f in world.failed_jobs()]
    assert codes == [0, 0], procs.logs()
