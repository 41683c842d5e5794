"""The fault-test harness: processes with hard time bounds, a private redis-server,
completion sinks, worker configs and poison payloads.

Every process a fault test starts goes through :class:`Processes`, which starts it in
its own session (so its whole process group can be killed by id) and kills whatever is
still alive when the test ends. Nothing here touches a server beyond loopback, and
nothing deletes data it did not create.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from faultsinks import Sink

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PYTHON = sys.executable
T = TypeVar("T")

# ---------------------------------------------------------------------------------------
# Scale: the counts behind FREIGHT_FAULT_SCALE=full, smaller ones by default.
FULL = os.environ.get("FREIGHT_FAULT_SCALE", "").lower() == "full"


def scaled(full: int, quick: int) -> int:
    """``full`` when FREIGHT_FAULT_SCALE=full, else ``quick``."""
    return full if FULL else quick


# ---------------------------------------------------------------------------------------
# Waiting with a hard bound.
def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    interval: float = 0.02,
    on_timeout: Callable[[], str] | None = None,
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = on_timeout() if on_timeout else ""
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}\n{detail}")
        time.sleep(interval)


def require_binary(name: str) -> None:
    """Skip (locally) or fail (CI=true) when the server binary ``name`` is not installed."""
    import pytest

    if shutil.which(name) is None:
        message = f"the {name!r} binary is not installed; fault tests start their own {name}"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------
# Processes.
class Proc:
    """One child process started in its own session, its output in a log file."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.popen = popen
        self.log = log

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill9(self) -> None:
        """SIGKILL the process group this process leads (only what we started)."""
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.popen.wait(10)

    def signal(self, signum: int) -> None:
        if self.alive():
            os.kill(self.popen.pid, signum)

    def wait(self, timeout: float) -> int:
        """The exit code; on timeout the process is killed and the test fails with its log."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError(
                f"{self.name} did not exit within {timeout:.1f}s; killed. Log tail:\n{self.tail()}"
            ) from None

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])


class Processes:
    """Starts child processes and guarantees they are all gone when :meth:`close` runs."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.started: list[Proc] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        pipes: bool = False,
    ) -> Proc:
        """Start ``argv`` in a new session; output to a log file, or stdin/stdout as pipes."""
        log = self.logdir / f"{name}-{len(self.started)}.log"
        with log.open("wb") as fh:
            popen = subprocess.Popen(
                list(argv),
                stdout=subprocess.PIPE if pipes else fh,
                stderr=fh if pipes else subprocess.STDOUT,
                stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                env=env,
                cwd=str(cwd) if cwd else None,
                start_new_session=True,
            )
        proc = Proc(name, popen, log)
        self.started.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.started:
            if proc.alive():
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                proc.popen.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} (pid {p.pid}) ---\n{p.tail()}" for p in self.started)


# ---------------------------------------------------------------------------------------
# A private redis-server with persistence on, on its own loopback port.
class RedisServer:
    """A redis-server only this test uses: AOF on (fsync always), data in a tmp dir."""

    def __init__(self, procs: Processes, directory: Path) -> None:
        self.procs = procs
        self.dir = directory
        self.port = free_port()
        self.proc: Proc | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        argv = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ]
        deadline = time.monotonic() + 10
        while True:  # the port of a just-killed server can take a moment to be free again
            self.proc = self.procs.start(f"redis-{self.port}", argv)
            self.starts += 1
            if self._await_ping(deadline):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"private redis-server did not start:\n{self.proc.tail()}")

    def _await_ping(self, deadline: float) -> bool:
        assert self.proc is not None
        while time.monotonic() < deadline:
            if not self.proc.alive():
                time.sleep(0.1)
                return False
            if self.ping():
                return True
            time.sleep(0.02)
        return False

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """Crash the server (SIGKILL); acknowledged writes survive in the AOF."""
        if self.proc is not None:
            self.proc.kill9()

    def restart(self, down_for: float = 0.0) -> None:
        self.kill()
        if down_for:
            time.sleep(down_for)
        self.start()

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)


# ---------------------------------------------------------------------------------------
# Workers.
def worker_env(sink: Sink | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker subprocess: fault_jobs importable, the sink named."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FREIGHT_", "PYTEST_", "COV_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO / "src")])
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONHASHSEED"] = "0"
    if sink is not None:
        env["FAULT_SINK"] = sink.spec
    env.update(extra or {})
    return env


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """Write a freight config (nested dicts of scalars) as a TOML file."""
    lines: list[str] = []

    def table(prefix: str, data: dict[str, Any]) -> None:
        scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
        if scalars or not prefix:
            if prefix:
                lines.append(f"[{prefix}]")
            lines.extend(f"{k} = {toml_value(v)}" for k, v in scalars.items())
            lines.append("")
        for key, value in data.items():
            if isinstance(value, dict):
                table(f"{prefix}.{key}" if prefix else key, value)

    table("", config)
    path.write_text("\n".join(lines))
    return path


def worker_argv(config: Path, connection: str, queue: str, *options: str) -> list[str]:
    """``python -m freight work CONNECTION --queue QUEUE --config CONFIG OPTIONS...``."""
    return [PYTHON, "-m", "freight", "work", connection, "--queue", queue, "--config", str(config), *options]


@contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as t: ...`` then ``t[0]`` is the elapsed seconds."""
    box: list[float] = []
    start = time.monotonic()
    try:
        yield box
    finally:
        box.append(time.monotonic() - start)


def report(name: str, **figures: Any) -> None:
    """Print a figure line (shown with -s, and collected in FREIGHT_FAULT_REPORT if set)."""
    line = json.dumps({"test": name, "scale": "full" if FULL else "quick", **figures}, default=str)
    print(f"FAULT-FIGURES {line}")
    target = os.environ.get("FREIGHT_FAULT_REPORT")
    if target:
        with open(target, "a") as fh:
            fh.write(line + "\n")
