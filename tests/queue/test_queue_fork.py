"""Fork safety of every queue driver (issue 12, item 4).

A connection used before ``fork()`` must not share its sockets or pooled connections
with the child: parent and child push and reserve at the same time, every job is
handed out exactly once, and the parent's connection still works after the child exits.
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any

from freight.queue.drivers.base import Queue

JOBS = 60


def _child(queue: Queue, err: int, name: str) -> None:
    code = 1
    try:
        for i in range(JOBS):
            queue.push_raw(f'{{"from":"child","i":{i}}}', name)
        got: list[str] = []
        while len(got) < JOBS:
            jobs = queue.pop_many(name, 7)
            if not jobs:
                break
            got += [job.raw for job in jobs]
            queue.ack_many(jobs)
        with os.fdopen(err, "w") as out:
            out.write("\n".join(got))
        code = 0
    except BaseException:  # noqa: BLE001 - report anything to the parent
        os.write(err, ("ERROR\n" + traceback.format_exc()).encode()[-4000:])
    finally:
        os._exit(code)


def test_a_connection_used_before_fork_is_safe_in_the_child(
    queue_kind: str, queue_config: Callable[..., dict[str, Any]], make_queue: Callable[..., Queue]
) -> None:
    queue = make_queue(queue_config(queue_kind))
    name = queue.default_queue
    queue.push_raw('{"before":1}', name)  # connected (and tables created) in the parent
    [first] = queue.pop_many(name, 1)
    queue.ack(first)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        _child(queue, write, name)
    os.close(write)
    got: list[str] = []
    for i in range(JOBS):
        queue.push_raw(f'{{"from":"parent","i":{i}}}', name)
        jobs = queue.pop_many(name, 3)
        got += [job.raw for job in jobs]
        queue.ack_many(jobs)
    status = wait_child(pid)
    with os.fdopen(read, "rb") as pipe:
        child_got = pipe.read().decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, f"the child failed:\n{child_got}"
    while jobs := queue.pop_many(name, 50):  # what neither took before the child stopped
        got += [job.raw for job in jobs]
        queue.ack_many(jobs)
    everything = got + [line for line in child_got.split("\n") if line]
    assert len(everything) == len(set(everything)) == 2 * JOBS, "a job was lost or handed out twice"
    assert queue.size(name) == 0, "the parent's connection broke when the child exited"


def wait_child(pid: int, seconds: float = 60) -> int:
    """The child's wait status; a child still running after ``seconds`` (stuck on a socket
    it shares with the parent) is killed, which fails the test instead of hanging it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]
