"""Timeouts (issue 5, item 5): a job stuck in Python code and a job stuck in a C call.

A job stuck in Python is interrupted by the soft timeout (JobTimeoutError raised inside
it); the attempt is recorded and the same worker carries on. A job stuck in C code
never returns to the interpreter, so no signal handler can run: after the grace period
the worker's watchdog records the attempt and the process exits with its distinct
code, for a supervisor to restart it; the restarted worker carries on with the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fault_jobs import Record, StuckInC, StuckInPython
from faultkit import Processes, report, worker_argv, worker_env
from faultsinks import Sink
from queueworld import CONNECTION, World

from freight.queue import worker as worker_module


def test_a_job_stuck_in_python_is_interrupted_and_the_worker_carries_on(
    make_world: Callable[..., World],
    make_sink: Callable[[str, str], Sink],
    procs: Processes,
    redis_url: str,
    tmp_path: Path,
) -> None:
    world = make_world("redis", redis_url, retry_after=30)
    sink = make_sink("redis", redis_url)
    world.push_many([StuckInPython({"id": "stuck"}), Record({"id": "after"})])
    started = time.monotonic()
    argv = worker_argv(
        world.config_path, CONNECTION, world.queue, "--stop-when-empty", "--sleep", "0.1", "--grace", "1"
    )
    worker = procs.start("worker", argv, env=worker_env(sink))
    code = worker.wait(30)
    elapsed = time.monotonic() - started
    assert code == 0, worker.tail()
    assert sink.ids("start") == ["stuck"] and sink.ids() == ["after"], worker.tail()
    [failed] = world.failed_jobs()
    assert "JobTimeoutError" in failed.exception, failed.summary
    report("timeout_python", job_timeout=1, exit_code=code, seconds=round(elapsed, 1))


@pytest.mark.parametrize("mode", ["cpu", "sleep"])
def test_a_job_stuck_in_c_is_recorded_and_the_worker_exits_for_a_restart(
    mode: str,
    make_world: Callable[..., World],
    make_sink: Callable[[str, str], Sink],
    procs: Processes,
    redis_url: str,
    tmp_path: Path,
) -> None:
    world = make_world("redis", redis_url, retry_after=30)
    sink = make_sink("redis", redis_url)
    world.push_many([StuckInC({"id": "stuck", "mode": mode}), Record({"id": "after"})])
    argv = worker_argv(
        world.config_path, CONNECTION, world.queue, "--stop-when-empty", "--sleep", "0.1", "--grace", "1"
    )
    started = time.monotonic()
    first = procs.start("worker", argv, env=worker_env(sink))
    code = first.wait(30)
    stuck_for = time.monotonic() - started
    assert code == worker_module.EXIT_HARD_TIMEOUT, f"exit code {code}:\n{first.tail()}"
    assert sink.ids("start") == ["stuck"] and sink.ids() == [], first.tail()
    [failed] = world.failed_jobs()  # tries = 1: the attempt is recorded as a failure
    assert "JobTimeoutError" in failed.exception or "timeout" in failed.exception.lower(), failed.summary
    second = procs.start("restarted", argv, env=worker_env(sink))  # what a supervisor does
    assert second.wait(30) == 0, second.tail()
    assert sink.ids() == ["after"] and sink.ids("start") == ["stuck"], second.tail()
    assert world.size() == 0
    report(f"timeout_c[{mode}]", job_timeout=1, exit_code=code, stopped_after=round(stuck_for, 1))
