"""Workflows under real worker processes (``python -m freight work``): exact counts, no overlap,
no stuck locks after SIGKILL.

Each test writes a freight.toml for one connection, starts workers as a user would, and
judges the outcome from the backend and from a log the jobs append to.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from workflow_jobs import Counted, Exclusive, Logged, SlowUnique

from freight import Batch
from freight.queue.manager import QueueManager

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent / "src"
pytestmark = pytest.mark.slow


def _toml(config: dict[str, Any], prefix: str = "") -> str:
    scalars = {k: v for k, v in config.items() if not isinstance(v, dict)}
    lines = [f"[{prefix}]"] if prefix and scalars else []
    lines += [f"{k} = {json.dumps(v)}" for k, v in scalars.items()]
    for key, value in config.items():
        if isinstance(value, dict):
            lines.append(_toml(value, f"{prefix}.{key}" if prefix else key))
    return "\n".join(lines)


class Site:
    """A directory with a freight.toml for one connection, its manager, and its workers."""

    def __init__(self, root: Path, connection: dict[str, Any]) -> None:
        self.root = root
        self.log = root / "jobs.log"
        conn = {k: v for k, v in connection.items() if k != "name"}
        self.config = {
            "cache": {"default": "array"},
            "queue": {
                "default": "main",
                "connections": {"main": conn},
                "failed": {"driver": "database", "url": f"sqlite:///{root}/failed.sqlite3"},
            },
        }
        (root / "freight.toml").write_text(_toml(self.config) + "\n")
        self.manager = QueueManager(self.config["queue"])
        self.workers: list[subprocess.Popen[str]] = []

    def start(self, count: int, *options: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FREIGHT_", "PYTEST_"))}
        env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(SRC)])
        for _ in range(count):
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "freight", "work", "-q", *options],
                    cwd=self.root,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )

    def wait(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        for proc in self.workers:
            try:
                out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
                raise AssertionError(f"a worker did not finish:\n{out[-3000:]}") from None
            assert proc.returncode == 0, out[-3000:]
        self.workers.clear()

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def close(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.manager.purge()


@pytest.fixture
def site(tmp_path: Path, queue_config: Callable[..., dict[str, Any]]) -> Iterator[Callable[[str], Site]]:
    made: list[Site] = []
    tables: list[tuple[str, str]] = []

    def make(kind: str) -> Site:
        config = queue_config(kind)
        if config["driver"] == "database":
            config["batch_table"] = f"{config['table']}_b"
            tables.extend(
                (config["url"], f"{config['table']}{suffix}") for suffix in ("_b", "_cache", "_locks")
            )
        made.append(Site(tmp_path, config))
        return made[-1]

    yield make
    for s in made:
        s.close()
    if tables:
        import sqlalchemy as sa

        from freight.connections import sql_engine

        for url, table in tables:
            with sql_engine({"url": url}).begin() as conn:
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))


@pytest.mark.parametrize("kind", ["redis", "postgres"])
def test_a_batch_of_ten_thousand_jobs_on_four_workers(kind: str, site: Callable[[str], Site]) -> None:
    s = site(kind)
    log = str(s.log)
    queue = s.manager.connection()
    batch = (
        Batch([Counted() for _ in range(10_000)])
        .then(Logged(name="then", log=log))
        .finally_(Logged(name="finally", log=log))
        .dispatch(queue)
    )
    s.start(4, "--stop-when-empty", "--memory", "0")
    s.wait(timeout=300)
    found = queue.find_batch(batch.id)
    assert found is not None
    assert (found.processed, found.failed, found.pending, found.total) == (10_000, 0, 0, 10_000)
    assert found.finished and found.progress == 100
    names = sorted(line.split()[0] for line in s.lines())
    assert names == ["finally", "then"], "then and finally ran exactly once each"


def test_without_overlapping_across_four_workers(site: Callable[[str], Site]) -> None:
    s = site("redis")
    queue = s.manager.connection()
    for i in range(12):
        queue.push(Exclusive(key="account-1", n=i, log=str(s.log)))
    s.start(4, "--stop-when-empty", "--memory", "0", "--sleep", "0.05")
    s.wait()
    lines = s.lines()
    assert len(lines) == 24, "every job ran once"
    kinds = [line.split()[0] for line in lines]
    assert kinds == ["start", "end"] * 12, "two jobs with the same key never ran at once"
    assert s.manager.failed().count() == 0


def test_sigkill_does_not_leave_the_unique_lock_past_unique_for(site: Callable[[str], Site]) -> None:
    s = site("redis")
    queue = s.manager.connection()
    assert queue.push(SlowUnique(log=str(s.log))) is not None
    dispatched = time.monotonic()
    s.start(1)
    deadline = time.monotonic() + 30
    while not s.lines():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)
    os.kill(s.workers[0].pid, signal.SIGKILL)
    s.workers[0].communicate()
    s.workers.clear()
    if time.monotonic() - dispatched < SlowUnique.unique_for - 0.5:
        assert queue.push(SlowUnique(log=str(s.log))) is None, "the lock still holds within unique_for"
    while time.monotonic() - dispatched < SlowUnique.unique_for + 0.2:
        time.sleep(0.05)
    assert queue.push(SlowUnique(log=str(s.log))) is not None, "the lock expired after unique_for"
