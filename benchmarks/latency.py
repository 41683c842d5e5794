"""Push-to-start latency: how long an idle worker takes to start a job after ``push``.

    python -m benchmarks.latency [--samples 200] [--gap 0.2] [--only redis,postgres,sqlite]

For each backend one ``python -m freight work`` process runs; the harness pushes one
:class:`Stamp` job at a time, carrying ``time.time()`` at the push, and waits until the
job has written the time its ``handle()`` started (a file per job, in a temporary
directory) before waiting ``--gap`` seconds, so the worker is idle again, and pushing the
next. Both clocks are the same machine's. It prints the median and p99 per backend.
Loopback servers only (the benchmark suite's defaults and overrides).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from freight.queue.job import Job
from freight.queue.manager import QueueManager

DEFAULT_URLS = {
    "redis": os.environ.get("FREIGHT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
    "postgres": os.environ.get(
        "FREIGHT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
}


class Stamp(Job):
    """Writes the time its handle() started into ``<dir>/<n>``."""

    def handle(self) -> None:
        started = time.time()
        Path(self.data["dir"], str(self.data["n"])).write_text(repr(started))


def _connection(backend: str, tmp: str, tag: str) -> dict[str, object]:
    if backend == "redis":
        return {"driver": "redis", "url": DEFAULT_URLS["redis"], "prefix": f"freight-latency-{tag}"}
    if backend == "postgres":
        return {"driver": "database", "url": DEFAULT_URLS["postgres"], "table": f"latency_{tag}"}
    return {"driver": "database", "url": f"sqlite:///{tmp}/latency.sqlite3", "table": "jobs"}


def measure(backend: str, samples: int, gap: float) -> list[float]:
    """``samples`` push-to-start latencies (seconds) on an idle worker of ``backend``."""
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        conn = _connection(backend, tmp, tag)
        lines = ["[queue]", 'default = "bench"', "[queue.connections.bench]"]
        lines += [f"{k} = {v!r}".replace("'", '"') for k, v in conn.items()]
        lines += ['queue = "latency"', "[queue.failed]", 'driver = "null"']
        config = Path(tmp, "freight.toml")
        config.write_text("\n".join(lines) + "\n")
        manager = QueueManager({"default": "bench", "connections": {"bench": {**conn, "queue": "latency"}}})
        queue = manager.connection()
        queue.size()  # tables
        env = dict(
            os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parent.parent), *sys.path])
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "freight", "work", "--config", str(config), "--sleep", "3", "-q"],
            env=env,
            cwd=tmp,
        )
        out: list[float] = []
        try:
            queue.push(Stamp(dir=tmp, n=-1))  # warm-up: the worker is up once it ran
            _wait_file(Path(tmp, "-1"), 60)
            for n in range(samples):
                time.sleep(gap)
                pushed = time.time()
                queue.push(Stamp(dir=tmp, n=n))
                started = float(_wait_file(Path(tmp, str(n)), 30))
                out.append(started - pushed)
        finally:
            worker.terminate()
            worker.wait(30)
            queue.clear("latency")
            if backend == "postgres":
                queue.drop_tables()  # type: ignore[attr-defined]
            queue.close()
        return out


def _wait_file(path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            text = path.read_text()
            if text:
                return text
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no job start recorded in {path}")
        time.sleep(0.0002)


def main(argv: list[str] | None = None) -> int:
    """Measure and print median / p99 push-to-start latency per backend."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.2, help="idle seconds before each push")
    parser.add_argument("--only", default="redis,postgres,sqlite")
    args = parser.parse_args(argv)
    for backend in args.only.split(","):
        values = sorted(measure(backend, args.samples, args.gap))
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        print(
            f"{backend:9} median {statistics.median(values) * 1000:7.2f} ms   p99 {p99 * 1000:7.2f} ms"
            f"   ({len(values)} samples, {args.gap:g} s idle before each push)"
        )
    return 0


if __name__ == "__main__":  # run as benchmarks.latency, so payloads name that module's Stamp
    from benchmarks.latency import main as run

    raise SystemExit(run())
