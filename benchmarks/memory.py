"""Worker memory: the resident set of one freight worker process over many no-op jobs (redis).

The jobs are pushed with ``bulk``; then one ``python -m freight work`` process drains
them while the harness samples its ``VmRSS`` (``/proc/<pid>/status``) every 50 ms,
together with how many jobs are still queued. Growth is measured from the first sample
taken after the first job ran (imports done, connections open) to the sample taken
when the last job has run.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks import marker
from benchmarks.harness import ROOT, BenchError
from benchmarks.queue_freight import FreightQueueTarget
from benchmarks.servers import Env

__all__ = ["MemoryResult", "run_memory"]

SAMPLE = 0.05


@dataclass
class MemoryResult:
    """RSS of the worker at the first job, after a tenth of the jobs, and at the last job."""

    jobs: int
    rss_first_kib: int
    rss_tenth_kib: int
    rss_last_kib: int
    seconds: float
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    """(seconds since the first job, jobs still queued, RSS KiB)"""

    @property
    def growth(self) -> float:
        """RSS growth from the first job to the last, as a fraction."""
        return (self.rss_last_kib - self.rss_first_kib) / self.rss_first_kib

    @property
    def growth_after_warmup(self) -> float:
        """RSS growth from the first tenth of the jobs to the last job, as a fraction."""
        return (self.rss_last_kib - self.rss_tenth_kib) / self.rss_tenth_kib

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (samples thinned to at most 200)."""
        data = asdict(self)
        step = max(1, len(self.samples) // 200)
        data["samples"] = [[round(t, 3), q, r] for t, q, r in self.samples[::step]]
        data["growth"] = round(self.growth, 4)
        data["growth_after_warmup"] = round(self.growth_after_warmup, 4)
        data["rate"] = round(self.jobs / self.seconds, 1) if self.seconds else None
        return data


def _rss_kib(pid: int) -> int | None:
    """The resident set of ``pid`` in KiB, or None once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def run_memory(env: Env, jobs: int = 100_000, chunk: int = 1000, sample: float = SAMPLE) -> MemoryResult:
    """Push ``jobs`` no-op jobs to freight's redis queue and sample one worker's RSS every ``sample`` s."""
    target = FreightQueueTarget(env, "redis")
    try:
        target.clear()
        target.bulk_all(jobs, chunk)
        cmd = target.worker_command()
        if cmd is None:
            raise BenchError("the memory benchmark needs a real Redis (a worker process)")
        marks = env.workdir / "marks" / "memory"
        marks.mkdir(parents=True, exist_ok=True)
        for name in ("first", "last"):
            (marks / name).unlink(missing_ok=True)
        child_env = {**os.environ, "FREIGHT_BENCH_MARKS": str(marks), "FREIGHT_BENCH_N": str(jobs)}
        child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), child_env.get("PYTHONPATH")]))
        samples: list[tuple[float, int, int]] = []
        with (env.workdir / "worker-memory.log").open("wb") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=child_env, stdout=log, stderr=subprocess.STDOUT)
            try:
                first = last = None
                deadline = time.time() + 600
                while last is None:
                    if time.time() > deadline:
                        raise BenchError(f"the worker stalled (see {log.name})")
                    time.sleep(sample)
                    rss = _rss_kib(proc.pid)
                    first = first or marker.read(marks, "first")
                    last = marker.read(marks, "last")
                    if first is not None and rss is not None:
                        samples.append((time.time() - first, target.outstanding(), rss))
                    if last is None and proc.poll() is not None:
                        raise BenchError(f"the worker exited before running every job (see {log.name})")
                proc.wait(30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        if first is None or len(samples) < 3:
            raise BenchError("too few memory samples: the drain was too short to measure")
        tenth = next(s for s in samples if s[1] <= jobs * 0.9)
        return MemoryResult(jobs, samples[0][2], tenth[2], samples[-1][2], last - first, samples)
    finally:
        try:
            target.clear()
        finally:
            target.close()
