"""Real ``schedule:work`` processes on a shared store, for the multi-process tests.

The application module below is written into the test's directory; its store and its
events come from environment variables, so one module serves every test. Each run of a
scheduled callable appends one line to a log file (``O_APPEND``: whole lines, in order).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

APP = """
import json, os, time
from freight import Application
from freight.schedule import current_run

app = Application(json.loads(os.environ["SCHED_CONFIG"]))
schedule = app.schedule()
LOG = os.environ["SCHED_LOG"]


def write(line):
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\\n").encode())
    finally:
        os.close(fd)


def tick():
    write(f"tick {current_run().due} {os.getpid()}")


def slow():
    due = current_run().due
    write(f"start {due} {os.getpid()} {time.time()}")
    time.sleep(float(os.environ["SCHED_SLOW"]))
    write(f"end {due} {os.getpid()} {time.time()}")


every = os.environ.get("SCHED_EVERY", "second")
if "SCHED_SLOW" in os.environ:
    event = schedule.call(slow).name("slow")
    event.without_overlapping(expires=float(os.environ["SCHED_EXPIRES"]))
else:
    event = schedule.call(tick).name("tick").on_one_server()
getattr(event, "every_" + every)()
"""


@dataclass
class Cluster:
    """Scheduler processes started in ``directory`` with one environment."""

    directory: Path
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    grace: str = "10"

    @property
    def options(self) -> list[str]:
        return ["--grace", self.grace]

    @property
    def log(self) -> Path:
        return self.directory / "runs.log"

    def start(self, n: int = 1) -> list[subprocess.Popen[bytes]]:
        """Start ``n`` ``schedule:work`` processes at once; wait until each says it started."""
        started = []
        for _ in range(n):
            out = self.directory / f"scheduler-{len(self.procs)}.out"
            with out.open("wb") as fh:
                argv = [
                    sys.executable,
                    "-m",
                    "freight",
                    "schedule:work",
                    "--app",
                    "schedapp:app",
                    *self.options,
                ]
                proc = subprocess.Popen(
                    argv, cwd=self.directory, env=self.env, stdout=fh, stderr=subprocess.STDOUT
                )
            self.procs.append(proc)
            started.append((proc, out))
        deadline = time.monotonic() + 30
        for proc, out in started:
            while b"Scheduler started" not in out.read_bytes():
                assert proc.poll() is None, out.read_text()
                assert time.monotonic() < deadline, "schedule:work did not start within 30 s"
                time.sleep(0.05)
        return [proc for proc, _ in started]

    def lines(self, kind: str) -> list[list[str]]:
        """The log lines starting with ``kind``, split."""
        if not self.log.exists():
            return []
        return [line.split()[1:] for line in self.log.read_text().splitlines() if line.startswith(kind + " ")]

    def stop(self) -> list[int]:
        """SIGTERM every live process; their exit codes."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(30))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        return codes

    def output(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.directory.glob("scheduler-*.out")))


def cluster(directory: Path, config: dict[str, Any], **env: str) -> Cluster:
    """A :class:`Cluster` whose application uses the cache ``config``."""
    (directory / "schedapp.py").write_text(APP, encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FREIGHT_")}
    environ.update(SCHED_CONFIG=json.dumps(config), SCHED_LOG=str(directory / "runs.log"), **env)
    environ["PYTHONPATH"] = str(directory)
    return Cluster(directory, environ)


def soak() -> bool:
    """FREIGHT_SCHEDULE_SOAK=1: the issue's full-length runs (every ten seconds, 40 and 60 s)."""
    return os.environ.get("FREIGHT_SCHEDULE_SOAK", "") not in ("", "0")
