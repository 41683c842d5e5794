"""Repeated, interleaved measurements: every case runs once per round, the fastest run counts.

On a shared machine the load drifts over minutes, so timing one library now and its
baseline a minute later compares two machines. A run is therefore split into rounds:
each round times every case once (cache: put and get; queue: push, bulk and a drain),
in the same order, and each measurement keeps its fastest round, as ``timeit`` does.
A measurement whose runs already add up to :data:`BUDGET` seconds is not repeated:
one long run (RQ's drain, Django's file cache) is steady enough on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    WARMUP,
    BenchError,
    CacheCase,
    Drain,
    QueueTarget,
    Result,
    bench_keys,
    drain_inprocess,
    drain_subprocess,
    small_value,
    timed,
)

__all__ = ["BUDGET", "BULK_CHUNK", "Best", "CacheBench", "QueueBench", "run_cache_case", "run_queue_target"]

BUDGET = 15.0
BULK_CHUNK = 1000


@dataclass
class Best:
    """The fastest run of one measurement so far."""

    seconds: float = float("inf")
    cpu: float | None = None
    runs: int = 0
    spent: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def wanted(self) -> bool:
        """True while another run is worth its time."""
        return self.runs == 0 or self.spent <= BUDGET

    def add(self, seconds: float, cpu: float | None, **extra: Any) -> None:
        """Record one run."""
        self.runs, self.spent = self.runs + 1, self.spent + seconds
        if seconds < self.seconds:
            self.seconds, self.cpu, self.extra = seconds, cpu, extra

    def result(self, suite: str, backend: str, library: str, operation: str, n: int, **extra: Any) -> Result:
        """The :class:`Result` of the fastest run, with ``runs`` and the client CPU µs per operation."""
        data: dict[str, Any] = {**extra, **self.extra, "runs": self.runs}
        if self.cpu is not None:
            data["cpu_us"] = round(self.cpu / n * 1e6, 1)
        return Result(suite, backend, library, operation, n, self.seconds, data)


class CacheBench:
    """Puts of N distinct keys and gets of the same keys (all hits) on one cache."""

    def __init__(self, case: CacheCase, n: int) -> None:
        self.case, self.n = case, min(n, case.n_cap) if case.n_cap else n
        self.keys = bench_keys(self.n)
        self.values = [small_value(i) for i in range(self.n)]
        self.best = {"put": Best(), "get": Best()}
        for i in range(WARMUP):  # connect, create tables and directories before timing
            case.put(f"bench:warmup:{i}", self.values[0])
            case.get(f"bench:warmup:{i}")

    def _put_all(self) -> None:
        put = self.case.put
        for key, value in zip(self.keys, self.values, strict=True):
            put(key, value)

    def _get_all(self) -> None:
        get = self.case.get
        for key in self.keys:
            get(key)

    def round(self) -> None:
        """Time one put of every key, then one get of every key (later puts overwrite)."""
        for operation, loop in (("put", self._put_all), ("get", self._get_all)):
            if self.best[operation].wanted():
                self.best[operation].add(*timed(loop))

    def verify(self) -> None:
        """Check a few values (before any case closes: closing may flush a shared server)."""
        for i in {0, self.n // 2, self.n - 1}:
            got = self.case.get(self.keys[i])
            if got != self.values[i]:
                raise BenchError(f"{self.case.library} returned {got!r} for {self.keys[i]!r}")

    def finish(self) -> list[Result]:
        """Close the cache and return the results."""
        self.case.close()
        note = {"note": self.case.note} if self.case.note else {}
        c = self.case
        return [b.result("cache", c.backend, c.library, op, self.n, **note) for op, b in self.best.items()]


class QueueBench:
    """Push, bulk (where the library has it) and one worker's drain of N no-op jobs."""

    def __init__(self, target: QueueTarget, n: int, workdir: Path, chunk: int = BULK_CHUNK) -> None:
        self.target, self.n, self.chunk = target, n, chunk
        tag = f"{target.library}-{target.backend}".replace(" ", "_").replace("/", "_")
        self.marks, self.log = workdir / "marks" / tag, workdir / f"worker-{tag}.log"
        self.best = {"push": Best(), "bulk": Best(), "drain": Best()}
        target.push_all(WARMUP)  # connect, create tables, load scripts before timing
        target.clear()

    def _enqueue(self, fill: Callable[[], None]) -> tuple[float, float]:
        self.target.clear()
        seconds, cpu = timed(fill)
        queued = self.target.outstanding()
        if queued != self.n:
            raise BenchError(
                f"{self.target.library} ({self.target.backend}) holds {queued} jobs, not {self.n}"
            )
        return seconds, cpu

    def _push(self) -> tuple[float, float]:
        return self._enqueue(lambda: self.target.push_all(self.n))

    def _bulk(self) -> tuple[float, float]:
        if not self.target.has_bulk:
            return self._push()
        return self._enqueue(lambda: self.target.bulk_all(self.n, self.chunk))

    def _drain(self) -> Drain:
        target = self.target
        if target.outstanding() != self.n:
            self._bulk()
        cmd = target.worker_command()
        if cmd is None:
            return drain_inprocess(
                target.drain_inprocess, n=self.n, outstanding=target.outstanding, marks=self.marks
            )
        return drain_subprocess(
            cmd,
            n=self.n,
            outstanding=target.outstanding,
            marks=self.marks,
            log=self.log,
            timeout=target.worker_timeout,
            exits_when_empty=target.exits_when_empty,
        )

    def round(self) -> None:
        """Time one push of N jobs, one bulk of N jobs and one drain."""
        if self.best["push"].wanted():
            self.best["push"].add(*self._push())
        if self.target.has_bulk and self.best["bulk"].wanted():
            self.best["bulk"].add(*self._bulk())
        if self.best["drain"].wanted():
            drain = self._drain()
            startup, lag = round(drain.startup, 4), round(drain.ack_lag, 4)
            self.best["drain"].add(drain.seconds, None, startup=startup, ack_lag=lag)

    def finish(self) -> list[Result]:
        """Clear the queue, close the target, return the results."""
        try:
            self.target.clear()
        finally:
            self.target.close()
        t = self.target
        return [
            best.result(
                "queue", t.backend, t.library, op, self.n, **({"chunk": self.chunk} if op == "bulk" else {})
            )
            for op, best in self.best.items()
            if best.runs
        ]

    def abort(self) -> None:
        """Clean up after a failure."""
        try:
            self.target.clear()
        finally:
            self.target.close()


def run_cache_case(case: CacheCase, n: int, repeat: int = 1) -> list[Result]:
    """Benchmark one cache on its own (``repeat`` rounds)."""
    try:
        bench = CacheBench(case, n)
    except BaseException:
        case.close()
        raise
    try:
        for _ in range(max(1, repeat)):
            bench.round()
        bench.verify()
    except BaseException:
        case.close()
        raise
    return bench.finish()


def run_queue_target(target: QueueTarget, n: int, workdir: Path, *, repeat: int = 1) -> list[Result]:
    """Benchmark one queue on its own (``repeat`` rounds)."""
    try:
        bench = QueueBench(target, n, workdir)
        for _ in range(max(1, repeat)):
            bench.round()
    except BaseException:
        try:
            target.clear()
        finally:
            target.close()
        raise
    return bench.finish()
