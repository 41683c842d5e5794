"""``async def handle()`` jobs: run on the worker's event loop, ``--concurrency`` at once, with the
sync jobs' tries, backoff, timeouts, heartbeat and SIGTERM semantics (real redis; subprocess for
the signal)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from async_jobs import PEAK, RAN, AsyncLog, FlakyAsync, Hangs, Nap, SyncNap, reset

from freight.app import Application
from freight.errors import JobTimeoutError
from freight.queue.manager import QueueManager
from freight.queue.worker import EXIT_OK, Worker

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent / "src"


@pytest.fixture(autouse=True)
def _ran() -> Iterator[None]:
    reset()
    yield
    reset()


@pytest.fixture
def manager(queue_config: Callable[..., dict[str, Any]]) -> Iterator[QueueManager]:
    """A redis connection of its own; failed jobs in fakeredis."""
    conn = queue_config("redis")
    config = {
        "default": "r",
        "connections": {"r": conn},
        "failed": {"driver": "redis", "client": fakeredis.FakeRedis()},
    }
    made = QueueManager(config)
    yield made
    made.purge()


def work(manager: QueueManager, **options: Any) -> Worker:
    options.setdefault("stop_when_empty", True)
    options.setdefault("memory", 0)
    options.setdefault("sleep", 0.05)
    worker = Worker(manager, **options)
    assert worker.run() == EXIT_OK
    return worker


def test_1000_async_jobs_run_100_at_a_time(manager: QueueManager) -> None:
    manager.bulk([Nap(n=i) for i in range(1000)])
    started = time.monotonic()
    worker = work(manager, concurrency=100)
    elapsed = time.monotonic() - started
    assert sorted(data["n"] for _, data, _ in RAN) == list(range(1000)), "each job ran exactly once"
    assert worker.processed == 1000 and manager.size() == 0
    assert PEAK["async"] == 100, "up to --concurrency at once, never more"
    assert elapsed < 30, f"1,000 x 0.1 s took {elapsed:.1f} s; one at a time would take 100 s"


def test_sync_jobs_still_run_one_at_a_time_beside_async_ones(manager: QueueManager) -> None:
    manager.bulk([job for i in range(10) for job in (Nap(n=i, sleep=0.05), SyncNap(n=i))])
    work(manager, concurrency=10)
    assert sorted(name for name, _, _ in RAN) == ["Nap"] * 10 + ["SyncNap"] * 10
    assert PEAK["sync"] == 1 and PEAK["async"] >= 1


def test_async_jobs_are_retried_with_their_tries_and_backoff(manager: QueueManager) -> None:
    manager.push(FlakyAsync(n=1))
    work(manager, concurrency=4)
    assert RAN == [("FlakyAsync", {"n": 1}, 3)]
    assert manager.failed().all() == []


def test_a_timed_out_async_job_is_cancelled_then_fails_after_its_tries(manager: QueueManager) -> None:
    manager.push(Hangs())
    started = time.monotonic()
    work(manager, concurrency=4, grace=30)
    assert time.monotonic() - started < 10, "the timeout cancelled the task (it would await 30 s)"
    assert [attempt for _, _, attempt in RAN] == [1, 2]
    [record] = manager.failed().all()
    assert JobTimeoutError.__name__ in record.exception and "cancelled" in record.exception


def test_the_heartbeat_keeps_running_async_jobs_reserved(
    queue_config: Callable[..., dict[str, Any]],
) -> None:
    """retry_after 1 s and jobs of 2 s: without heartbeats they would be handed out again."""
    config = {
        "default": "r",
        "connections": {"r": queue_config("redis", retry_after=1)},
        "failed": {"driver": "redis", "client": fakeredis.FakeRedis()},
    }
    manager = QueueManager(config)
    try:
        manager.bulk([Nap(n=i, sleep=2) for i in range(3)])
        work(manager, concurrency=3)
        assert sorted((d["n"], attempts) for _, d, attempts in RAN) == [(0, 1), (1, 1), (2, 1)]
    finally:
        manager.purge()


def test_adispatch_pushes_without_blocking_the_loop(tmp_path: Path) -> None:
    app = Application(
        {
            "cache": {"default": "array"},
            "queue": {
                "default": "sync",
                "connections": {"sync": {"driver": "sync"}},
                "failed": {"driver": "null"},
            },
        }
    )

    async def handler() -> str:
        return await Nap.adispatch(n=7, sleep=0)

    try:
        job_id = asyncio.run(handler(), debug=True)
        assert job_id and RAN == [("Nap", {"n": 7, "sleep": 0}, 1)], "the sync driver ran the async job"
        Nap.dispatch(n=8, sleep=0)  # from sync code too
        assert RAN[-1][1]["n"] == 8
    finally:
        app.close()


@pytest.mark.slow
def test_sigterm_lets_running_async_jobs_finish(
    queue_config: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    conn = queue_config("redis")
    (tmp_path / "freight.toml").write_text(
        '[queue]\ndefault = "r"\n[queue.connections.r]\n'
        + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in conn.items())
        + f'[queue.failed]\ndriver = "database"\nurl = "sqlite:///{tmp_path}/failed.sqlite3"\n'
    )
    manager = QueueManager({"default": "r", "connections": {"r": conn}})
    log = tmp_path / "jobs.log"
    manager.bulk([AsyncLog(log=str(log), n=i, sleep=1.5) for i in range(8)])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FREIGHT_", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(SRC)])
    proc = subprocess.Popen(
        [sys.executable, "-m", "freight", "work", "--concurrency", "4", "--prefetch", "1", "--sleep", "0.1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (log.exists() and log.read_text().count("start") >= 4):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = log.read_text().splitlines()
    started = {line.split()[1] for line in lines if line.startswith("start")}
    done = {line.split()[1] for line in lines if line.startswith("done")}
    assert proc.returncode == 0, out
    assert started == done and len(done) >= 4, f"every started job finished before the exit:\n{out}"
    assert manager.size() == 8 - len(done), "the others are back on the queue"
    manager.purge()


def test_the_async_drain_benchmark_runs(redis_url: str) -> None:
    root = str(HERE.parent.parent)
    if root not in sys.path:  # the benchmarks package lives beside src/
        sys.path.insert(0, root)
    from benchmarks.asyncio_jobs import measure

    figures = measure(redis_url, jobs=20, sleep=0.01, concurrency=10, serial_jobs=4)
    assert figures.speedup > 0 and len(figures.lines()) == 3
