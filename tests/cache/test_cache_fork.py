"""Fork safety of every cache store (issue 12, item 4).

A store used before ``fork()`` (gunicorn ``--preload``, uWSGI, multiprocessing) must not
share its connections with the child: parent and child hammer the store at the same
time, each reads back exactly what it wrote, no increment is lost, and the parent's
connections still work after the child exits.
"""

from __future__ import annotations

import os
import signal
import time
import traceback

from cachekit import CacheEnv

ROUNDS = 60


def _child(env: CacheEnv, err: int) -> None:
    code = 1
    try:
        cache = env.cache
        for i in range(ROUNDS):
            cache.put(f"child:{i}", [i, "child"], 600)
            got = cache.get(f"child:{i}")
            if env.caps.persists and got != [i, "child"]:
                os.write(err, f"child read {got!r} for child:{i}".encode())
                code = 2
                break
            cache.increment("counter")
        else:
            code = 0
    except BaseException:  # noqa: BLE001 - report anything to the parent
        os.write(err, traceback.format_exc().encode()[-4000:])
    finally:
        os._exit(code)


def test_a_store_used_before_fork_is_safe_in_the_child(env: CacheEnv) -> None:
    cache = env.cache
    cache.put("before", "parent", 600)
    assert cache.get("before") == ("parent" if env.caps.persists else None)  # connected now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        _child(env, write)
    os.close(write)
    wrong = []
    for i in range(ROUNDS):
        cache.put(f"parent:{i}", [i, "parent"], 600)
        got = cache.get(f"parent:{i}")
        if env.caps.persists and got != [i, "parent"]:
            wrong.append((i, got))
        cache.increment("counter")
    status = wait_child(pid)
    with os.fdopen(read, "rb") as pipe:
        report = pipe.read().decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, f"the child failed:\n{report}"
    assert wrong == [], f"the parent read another process's values: {wrong[:5]}"
    if env.caps.persists:
        assert cache.get("before") == "parent", "the parent's connection broke when the child exited"
        # a store kept in the process (array, fakeredis) was copied by the fork: the child's
        # writes went to its own copy
        across = cache.get("child:0") is not None
        expected = 2 * ROUNDS if across else ROUNDS
        assert cache.get("counter") == expected, "increments were lost across the fork"


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
