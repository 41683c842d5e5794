"""End to end: jobs pushed here, run by ``python -m freight work`` in a subprocess, on every driver.

The worker finds its configuration as a user's would: ``freight.toml`` in its working
directory (or ``--config``), and imports the job module from ``PYTHONPATH``.
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
from jobs_fixture import SlowWrite, Write, WriteOrFail

from freight.cli import main
from freight.queue.manager import QueueManager

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent / "src"
pytestmark = pytest.mark.slow


def toml(config: dict[str, Any], prefix: str = "") -> str:
    """A nested dict of scalars as TOML."""
    scalars = {k: v for k, v in config.items() if not isinstance(v, dict)}
    lines = [f"[{prefix}]"] if prefix and scalars else []
    lines += [f"{k} = {json.dumps(v)}" for k, v in scalars.items()]
    for key, value in config.items():
        if isinstance(value, dict):
            lines.append(toml(value, f"{prefix}.{key}" if prefix else key))
    return "\n".join(lines)


class Project:
    """A directory with a freight.toml naming one connection ``e2e``, and a producer for it."""

    def __init__(self, root: Path, connection: dict[str, Any]) -> None:
        self.root = root
        self.log = root / "jobs.log"
        conn = {k: v for k, v in connection.items() if k != "name"}
        self.queue_name = conn["queue"]
        self.config = {
            "cache": {"default": "array"},
            "queue": {
                "default": "e2e",
                "connections": {"e2e": conn},
                "failed": {"driver": "database", "url": f"sqlite:///{root}/failed.sqlite3"},
            },
        }
        self.config_path = root / "freight.toml"
        self.config_path.write_text(toml(self.config) + "\n")
        self.manager = QueueManager(self.config["queue"])

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def worker(self, *options: str) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FREIGHT_", "PYTEST_"))}
        env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(SRC)])
        return subprocess.Popen(
            [sys.executable, "-m", "freight", "work", *options],
            cwd=self.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def close(self) -> None:
        self.manager.purge()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], Project]]:
    made: list[Project] = []

    def make(connection: dict[str, Any]) -> Project:
        made.append(Project(tmp_path, connection))
        return made[-1]

    yield make
    for p in made:
        p.close()


def finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"the worker did not exit within {timeout}s:\n{out}") from None
    return proc.returncode, out


def wait_for_lines(p: Project, proc: subprocess.Popen[str], lines: list[str], timeout: float = 20) -> None:
    """Wait until the project's log holds exactly ``lines`` (the worker must stay alive)."""
    deadline = time.monotonic() + timeout
    while p.lines() != lines:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the log never read {lines}:\n{finish(proc)[1]}")
        time.sleep(0.02)


@pytest.mark.parametrize("kind", ["redis", "sqlite", "postgres", "mysql"])
def test_work_stop_when_empty_runs_retries_and_fails_jobs(
    kind: str,
    queue_config: Callable[..., dict[str, Any]],
    project: Callable[[dict[str, Any]], Project],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Three jobs run once each; one fails twice and lands in the failed store; exit 0; then the
    failed/retry commands bring it back."""
    p = project(queue_config(kind))
    log = str(p.log)
    p.manager.bulk([Write(log=log, line=name) for name in "abc"])
    p.manager.push(WriteOrFail(log=log))
    options = ["--stop-when-empty", "--sleep", "0.1"]
    if kind != "sqlite":  # the sqlite run finds ./freight.toml on its own
        options += ["--config", str(p.config_path)]
    code, out = finish(p.worker(*options))
    assert code == 0, out
    expected = ["a 1", "b 1", "c 1", "attempt 1", "attempt 2", "failed ValueError"]
    assert sorted(p.lines()) == sorted(expected), out
    assert out.count(" DONE") == 3 and " RETRY " in out and " FAIL " in out, out
    assert p.manager.size() == 0
    [record] = p.manager.failed().all()
    assert record.job_class == "jobs_fixture:WriteOrFail" and record.connection == "e2e"

    assert main(["failed", "--config", str(p.config_path)]) == 0
    assert record.id in capsys.readouterr().out
    assert main(["retry", "all", "--config", str(p.config_path)]) == 0
    assert p.manager.failed().all() == [] and p.manager.size() == 1


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_sigterm_during_a_job_lets_it_finish_and_exits_zero(
    kind: str,
    queue_config: Callable[..., dict[str, Any]],
    project: Callable[[dict[str, Any]], Project],
) -> None:
    """SIGTERM while a job runs: the job completes and is acked, the next job stays queued with
    its attempts untouched, and the worker exits 0."""
    p = project(queue_config(kind))
    go = p.root / "go"
    p.manager.push(SlowWrite(log=str(p.log), go=str(go)))
    p.manager.push(Write(log=str(p.log), line="next"))
    proc = p.worker("--sleep", "0.1", "--config", str(p.config_path))
    wait_for_lines(p, proc, ["start"])
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.05)
    go.touch()
    code, out = finish(proc)
    assert code == 0, out
    assert p.lines() == ["start", "done"], out
    assert "stopping after the current job" in out
    queue = p.manager.connection()
    assert queue.size() == 1
    reserved = queue.pop()
    assert reserved is not None and reserved.attempts == 1
    queue.ack(reserved)


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_sigterm_stops_an_idle_worker_at_once_whatever_its_sleep(
    kind: str,
    queue_config: Callable[..., dict[str, Any]],
    project: Callable[[dict[str, Any]], Project],
) -> None:
    """An idle worker with ``--sleep 30`` exits within a couple of seconds of SIGTERM: the
    database driver sleeps with the worker's stop-aware sleep, redis blocks in 1 s slices."""
    p = project(queue_config(kind))
    p.manager.push(Write(log=str(p.log), line="first"))
    proc = p.worker("--sleep", "30", "--config", str(p.config_path))
    wait_for_lines(p, proc, ["first 1"])
    time.sleep(0.3)  # now idle, inside its wait
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code, out = finish(proc)
    assert code == 0, out
    assert time.monotonic() - signalled < 3, out
