"""The worker pool's pure parts (freight.queue.supervisor): argv, restart backoff, autoscaling."""

from __future__ import annotations

import argparse
import math
import os
import signal
import threading

import pytest

from freight.queue.commands import pool_range
from freight.queue.supervisor import (
    MAX_RESTART_DELAY,
    Supervisor,
    autoscale_target,
    child_argv,
    restart_delay,
)


def test_child_argv_drops_only_the_pool_options() -> None:
    argv = ["work", "redis", "--processes", "3", "--queue", "a,b", "--autoscale=1,4", "--cooldown", "2", "-q"]
    assert child_argv(argv) == ["work", "redis", "--queue", "a,b", "-q"]
    assert child_argv(["--config", "x.toml", "work", "--max-wait", "5", "--processes=2"]) == [
        "--config",
        "x.toml",
        "work",
    ]


def test_restart_delay_doubles_up_to_a_cap() -> None:
    assert [restart_delay(n) for n in range(5)] == [0.0, 0.5, 1.0, 2.0, 4.0]
    assert restart_delay(50) == MAX_RESTART_DELAY


def test_autoscale_moves_one_step_within_bounds() -> None:
    # no pace measured yet and a backlog: grow by one
    assert autoscale_target(1, 500, 0.0, 1, 4, 10) == 2
    # 500 jobs at 100/s = 5 s: within max_wait 10 s, keep
    assert autoscale_target(2, 500, 100.0, 1, 4, 10) == 2
    # 5,000 jobs at 100/s = 50 s: grow, but never past MAX
    assert autoscale_target(3, 5000, 100.0, 1, 4, 10) == 4
    assert autoscale_target(4, 5000, 100.0, 1, 4, 10) == 4
    # empty: shrink by one, never under MIN
    assert autoscale_target(3, 0, 0.0, 1, 4, 10) == 2
    assert autoscale_target(1, 0, 0.0, 1, 4, 10) == 1
    # 20 jobs at 1,000/s with 4 workers: 3 would still drain it in far under max_wait / 4
    assert autoscale_target(4, 20, 1000.0, 2, 4, 10) == 3
    assert autoscale_target(2, math.inf, 0.0, 2, 2, 10) == 2  # type: ignore[arg-type]


def test_autoscale_option_is_min_comma_max() -> None:
    assert pool_range("2,5") == (2, 5)
    for bad in ("5", "3,2", "0,2", "a,b"):
        with pytest.raises(argparse.ArgumentTypeError):
            pool_range(bad)


def test_a_worker_that_keeps_dying_is_restarted_with_growing_delays() -> None:
    """/bin/false stands in for a worker that fails at start-up (a bad --app)."""
    supervisor = Supervisor(["work"], 1, python="/bin/false", tick=0.01)
    timer = threading.Timer(2.3, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        assert supervisor.run() == 0
    finally:
        timer.cancel()
    slot = supervisor.slots[0]
    # started at 0, 0.5, 1.5 (delays 0.5, 1.0); the next would wait 2 s more
    assert len(slot.codes) == 3 and set(slot.codes) == {1}
    assert slot.failures == 3
