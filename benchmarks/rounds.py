"""Repeated, interleaved measurements: every case runs once per round, the fastest run counts.

On a shared machine the load drifts over minutes, so timing one library now and its
baseline a minute later compares two machines. A run is therefore split into rounds:
each round times every case once (cache: put and get; queue: push, bulk and a drain),
and each measurement keeps its fastest round, as ``timeit`` does. Within a round the
in-process loops (put, get, push, bulk) are cut into :data:`SLICES` slices taken in
turn by every case (forwards, then backwards), so drift over the seconds a round lasts
lands on every case alike; a case's time is the sum of its slices. A measurement whose
runs already add up to :data:`BUDGET` seconds is not repeated: one long run (RQ's
drain, Django's file cache) is steady enough on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
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

__all__ = [
    "BUDGET",
    "BULK_CHUNK",
    "SLICES",
    "Best",
    "CacheBench",
    "QueueBench",
    "interleaved_round",
    "run_cache_case",
    "run_queue_target",
]

BUDGET = 15.0
BULK_CHUNK = 1000
#: slices of each in-process loop per round, taken in turn by every case
SLICES = 10


def _bounds(n: int, index: int, count: int) -> tuple[int, int]:
    return n * index // count, n * (index + 1) // count


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

    def loops(self) -> list[str]:
        """The operations timed in process, in order: put every key, then get every key."""
        return ["put", "get"]

    def start(self, operation: str) -> None:
        """Nothing to prepare: later puts overwrite."""

    def slice(self, operation: str, index: int, count: int) -> tuple[float, float]:
        """Time slice ``index`` of ``count`` of the keys for ``operation``."""
        lo, hi = _bounds(self.n, index, count)
        keys, values = self.keys[lo:hi], self.values[lo:hi]
        if operation == "put":
            put = self.case.put

            def loop() -> None:
                for key, value in zip(keys, values, strict=True):
                    put(key, value)
        else:
            get = self.case.get

            def loop() -> None:
                for key in keys:
                    get(key)

        return timed(loop)

    def check(self, operation: str) -> None:
        """Nothing to check until :meth:`verify`."""

    def rest(self) -> None:
        """Nothing runs out of process."""

    def round(self) -> None:
        """Time one put of every key, then one get of every key, on their own."""
        interleaved_round([self], 1)

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

    def loops(self) -> list[str]:
        """The operations timed in process: push, and bulk where the library has it."""
        return ["push", "bulk"] if self.target.has_bulk else ["push"]

    def start(self, operation: str) -> None:
        """Empty the queue before it is filled again."""
        self.target.clear()

    def slice(self, operation: str, index: int, count: int) -> tuple[float, float]:
        """Time enqueueing slice ``index`` of ``count`` of the N jobs with ``operation``."""
        lo, hi = _bounds(self.n, index, count)
        if operation == "push":
            return timed(lambda: self.target.push_all(hi - lo))
        return timed(lambda: self.target.bulk_all(hi - lo, self.chunk))

    def check(self, operation: str) -> None:
        """The queue must hold the N jobs just enqueued."""
        queued = self.target.outstanding()
        if queued != self.n:
            raise BenchError(
                f"{self.target.library} ({self.target.backend}) holds {queued} jobs, not {self.n}"
            )

    def _fill(self) -> None:
        operation = self.loops()[-1]
        self.start(operation)
        self.slice(operation, 0, 1)
        self.check(operation)

    def _drain(self) -> Drain:
        target = self.target
        if target.outstanding() != self.n:
            self._fill()
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
        """Time one push of N jobs, one bulk of N jobs and one drain, on their own."""
        interleaved_round([self], 1)

    def rest(self) -> None:
        """Time one drain by a worker (out of process for most libraries)."""
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


def interleaved_round(
    benches: Sequence[CacheBench | QueueBench],
    slices: int = SLICES,
    failed: Callable[[CacheBench | QueueBench, BenchError], None] | None = None,
) -> None:
    """One round of ``benches``: each in-process loop in ``slices`` slices taken in turn
    (alternating direction), then each bench's out-of-process part. A bench raising
    :class:`BenchError` is reported to ``failed`` and dropped (re-raised without it)."""
    live = list(benches)

    def ok(bench: CacheBench | QueueBench, step: Callable[[], Any]) -> bool:
        try:
            step()
        except BenchError as exc:
            if failed is None:
                raise
            failed(bench, exc)
            live.remove(bench)
            return False
        return True

    for operation in ("put", "get", "push", "bulk"):
        timing = [b for b in live if operation in b.loops() and b.best[operation].wanted()]
        totals = {id(b): [0.0, 0.0] for b in timing}
        timing = [b for b in timing if ok(b, partial(b.start, operation))]
        for index in range(slices):
            for bench in timing[:: 1 if index % 2 == 0 else -1]:
                if bench in live:
                    total = totals[id(bench)]
                    step = partial(bench.slice, operation, index, slices)
                    ok(bench, partial(_accumulate, total, step))
        for bench in timing:
            if bench in live and ok(bench, partial(bench.check, operation)):
                bench.best[operation].add(*totals[id(bench)])
    for bench in list(live):
        ok(bench, bench.rest)


def _accumulate(total: list[float], step: Callable[[], tuple[float, float]]) -> None:
    took = step()
    total[0] += took[0]
    total[1] += took[1]


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
