"""Result records, timing loops and the drain measurement shared by every benchmark.

Enqueue and cache operations are timed in the harness process with
``time.perf_counter`` around a loop over pre-built keys, values or arguments; the CPU
time the harness process spent in that loop (``time.process_time``) is kept too, as
``cpu_us`` per operation. :mod:`benchmarks.rounds` repeats every measurement in
interleaved rounds and keeps the fastest run.

A drain is timed from the moment the worker process starts its first job until every
job has run *and* the broker holds nothing for the queue any more (no ready, reserved
or unacknowledged message). The job itself writes the first and last time stamps
(:mod:`benchmarks.marker`); the harness polls the broker's outstanding count every
couple of milliseconds once the last job has run. Worker start-up (interpreter,
imports, connecting) is reported separately as ``startup`` and is not part of the rate.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import marker

__all__ = [
    "ROOT",
    "BenchError",
    "CacheCase",
    "Drain",
    "QueueTarget",
    "Result",
    "Skip",
    "Unavailable",
    "drain_inprocess",
    "drain_subprocess",
    "WARMUP",
    "bench_keys",
    "python_module",
    "small_value",
    "timed",
]

ROOT = Path(__file__).resolve().parent.parent
POLL = 0.002
STALL = 5.0


class Unavailable(Exception):
    """A benchmark cannot run here: a library is not installed or a server is unreachable."""


class BenchError(Exception):
    """A benchmark ran but failed (a worker died, a value did not round-trip, a timeout)."""


@dataclass
class Result:
    """One measured operation: ``n`` operations in ``seconds``."""

    suite: str
    """"queue" or "cache\""""
    backend: str
    """where the data lives: redis, postgres, sqlite, memcached, file, memory"""
    library: str
    operation: str
    """push, bulk, drain (queue) or put, get (cache)"""
    n: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Operations per second."""
        return self.n / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with the rate."""
        data = asdict(self)
        data["rate"] = round(self.rate, 1)
        data["seconds"] = round(self.seconds, 6)
        return data


@dataclass
class Skip:
    """A benchmark that did not run, and why."""

    suite: str
    backend: str
    library: str
    reason: str


# -- cache ------------------------------------------------------------------------------
WARMUP = 10
"""operations each case runs before it is timed"""


def bench_keys(n: int) -> list[str]:
    """The keys every cache benchmark writes."""
    return [f"bench:user:{i}" for i in range(n)]


def small_value(i: int) -> dict[str, Any]:
    """The small dict every cache benchmark stores (about 100 bytes of JSON)."""
    return {"id": i, "name": f"user {i}", "email": f"user{i}@example.com", "active": True, "score": 0.5}


@dataclass
class CacheCase:
    """A cache under test: a library's own ``put(key, value)`` and ``get(key)`` calls."""

    library: str
    backend: str
    put: Callable[[str, Any], object]
    get: Callable[[str], Any]
    close: Callable[[], None] = lambda: None
    n_cap: int | None = None
    """run at most this many operations (for a peer too slow to finish N in reasonable time)"""
    note: str = ""


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call of ``fn``, with the cyclic garbage collector off
    (as ``timeit`` does): with every case's keys and values alive, a full collection landing
    in one case's loop would otherwise double that case's time."""
    gc.collect()
    gc.disable()
    try:
        cpu, start = time.process_time(), time.perf_counter()
        fn()
        return time.perf_counter() - start, time.process_time() - cpu
    finally:
        gc.enable()


# -- queue ------------------------------------------------------------------------------
@dataclass
class Drain:
    """How long one worker took to run every queued job."""

    seconds: float
    """first job started -> all jobs ran and none is left on the broker"""
    startup: float
    """worker launched -> first job started (not part of the rate)"""
    ack_lag: float = 0.0
    """last job finished -> broker empty (0 when it was already empty)"""


class QueueTarget(ABC):
    """A job queue under test: enqueue calls, the broker's outstanding count, its worker."""

    library: str = ""
    backend: str = ""
    has_bulk: bool = False
    worker_timeout: float = 600.0
    exits_when_empty: bool = False
    """True when the worker stops by itself once the queue is empty (burst mode)"""

    @abstractmethod
    def push_all(self, n: int) -> None:
        """Enqueue ``n`` no-op jobs one call at a time (argument: the job number)."""

    def bulk_all(self, n: int, chunk: int) -> None:
        """Enqueue ``n`` no-op jobs through the library's bulk API, ``chunk`` per call."""
        raise NotImplementedError

    @abstractmethod
    def outstanding(self) -> int:
        """Jobs the broker still holds for the queue: ready, delayed, reserved or unacked."""

    @abstractmethod
    def clear(self) -> None:
        """Delete every job of the queue."""

    @abstractmethod
    def worker_command(self) -> list[str] | None:
        """The command that starts one worker process; None to drain in-process instead."""

    def drain_inprocess(self) -> None:
        """Run the worker in this process until the queue is empty (when no command is given)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections; delete what the target created."""


def _stop(proc: subprocess.Popen[bytes], wait: float) -> None:
    """Let ``proc`` exit on its own for ``wait`` seconds, then SIGTERM it, then SIGKILL it."""
    for action in (None, proc.terminate, proc.kill):
        if proc.poll() is not None:
            return
        if action is not None:
            action()
        try:
            proc.wait(wait if action is None else 5)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _prepare_marks(marks: Path) -> None:
    marks.mkdir(parents=True, exist_ok=True)
    for name in ("first", "last"):
        (marks / name).unlink(missing_ok=True)


def _wait_empty(outstanding: Callable[[], int], last: float, deadline: float) -> float:
    """When the broker's outstanding count reached 0, given that the last job ended at ``last``."""
    if outstanding() == 0:
        return last
    while time.time() < deadline:
        time.sleep(POLL)
        if outstanding() == 0:
            return time.time()
    raise BenchError("the broker still holds jobs long after the last one ran")


def drain_subprocess(
    cmd: Sequence[str],
    *,
    n: int,
    outstanding: Callable[[], int],
    marks: Path,
    log: Path,
    env: dict[str, str] | None = None,
    timeout: float = 600.0,
    exits_when_empty: bool = False,
) -> Drain:
    """Start ``cmd`` as the worker process and time how long it takes to run ``n`` jobs."""
    _prepare_marks(marks)
    child_env = {**os.environ, **(env or {})}
    child_env.update(FREIGHT_BENCH_MARKS=str(marks), FREIGHT_BENCH_N=str(n))
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), child_env.get("PYTHONPATH")]))
    spawned = time.time()
    with log.open("wb") as log_file:
        proc = subprocess.Popen(list(cmd), cwd=ROOT, env=child_env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            deadline = spawned + timeout
            last = None
            empty_since, next_check = 0.0, spawned + 1
            while last is None:
                now = time.time()
                if now > deadline:
                    raise BenchError(f"worker timed out after {timeout:.0f}s: {' '.join(cmd)}\n{_tail(log)}")
                if now > next_check:  # a lost or unrunnable job would otherwise wait for the timeout
                    next_check = now + 1
                    empty_since = (empty_since or now) if outstanding() == 0 else 0.0
                    if empty_since and now - empty_since > STALL and marker.read(marks, "last") is None:
                        raise BenchError(
                            f"the queue is empty but the last job never ran: {' '.join(cmd)}\n{_tail(log)}"
                        )
                if proc.poll() is not None and marker.read(marks, "last") is None:
                    raise BenchError(
                        f"worker exited ({proc.returncode}) before running all {n} jobs: "
                        f"{' '.join(cmd)}\n{_tail(log)}"
                    )
                time.sleep(POLL)
                last = marker.read(marks, "last")
            done = _wait_empty(outstanding, last, deadline)
        except BaseException:
            _stop(proc, 0)
            raise
        _stop(proc, 10.0 if exits_when_empty else 0)
    first = marker.read(marks, "first")
    if first is None:
        raise BenchError(f"the worker never recorded its first job: {' '.join(cmd)}")
    return Drain(seconds=done - first, startup=first - spawned, ack_lag=max(0.0, done - last))


def drain_inprocess(run: Callable[[], None], *, n: int, outstanding: Callable[[], int], marks: Path) -> Drain:
    """Time ``run`` (a worker loop that returns when the queue is empty) in this process."""
    _prepare_marks(marks)
    marker.configure(marks, n)
    spawned = time.time()
    try:
        run()
    finally:
        marker.configure(None, 0)
    first, last = marker.read(marks, "first"), marker.read(marks, "last")
    if first is None or last is None:
        raise BenchError(f"the in-process worker returned before running all {n} jobs")
    done = _wait_empty(outstanding, last, time.time() + 30)
    return Drain(seconds=done - first, startup=first - spawned, ack_lag=max(0.0, done - last))


def python_module(module: str, *args: str) -> list[str]:
    """``[python, -m, module, *args]`` with this interpreter."""
    return [sys.executable, "-m", module, *args]
