"""The servers a benchmark run uses, found or started, and cleaned up afterwards.

* Redis: ``FREIGHT_BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``, a database
  number the test suite does not use). Every queue, key prefix and namespace carries the
  run id; at the end the run deletes the keys carrying it that it created. The few
  fixed-name keys of the peers are removed by their targets (RQ's ``rq:queues`` entry)
  or expire by themselves (RQ's worker records). It never flushes a database.
* PostgreSQL: ``FREIGHT_BENCH_POSTGRES_URL`` (default
  ``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Tables carry the run id and
  are dropped at the end; pgqueuer gets a schema of its own, dropped at the end.
* memcached: a private ``memcached`` on a free loopback port, stopped at the end
  (or ``FREIGHT_BENCH_MEMCACHED=host:port`` to use a running one).
* SQLite databases and file caches live in a temporary directory.
* Keep-awake: one ``nice 19`` busy loop per CPU runs for the whole run. An idle virtual
  CPU halts, and waking it costs each loopback round trip 70-80 µs (measured here: a
  Redis GET takes ~100 µs on idle CPUs, ~22 µs on awake ones), so without them a
  round-trip-bound loop measures the hypervisor's wake-up latency, erratically. At nice
  19 the loops only get CPU time nobody else wants (about 1.5% when contended).

Only loopback addresses are accepted: a benchmark sends a lot of traffic.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Env", "bench_env", "keep_awake", "libpq_dsn", "redis_server"]

DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Env:
    """Where a run's data lives; a server that could not be reached is None, with a reason."""

    n: int
    run_id: str
    workdir: Path
    redis_url: str | None = None
    postgres_url: str | None = None
    memcached: list[str] | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
    redis_client: Any = None
    """an injected redis client (fakeredis in the smoke test): freight then drains in-process"""

    @property
    def prefix(self) -> str:
        """A name part unique to this run, for keys, queues and tables."""
        return f"fbench{self.run_id}"

    def reason(self, server: str) -> str:
        """Why ``server`` is unavailable."""
        return self.unavailable.get(server, f"{server} is not configured")


def _require_loopback(url_or_host: str) -> None:
    host = urlsplit(url_or_host).hostname if "://" in url_or_host else url_or_host.rpartition(":")[0]
    host = host or "127.0.0.1"
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"benchmarks only run against loopback servers, not {url_or_host!r}")


def libpq_dsn(sqlalchemy_url: str) -> str:
    """``postgresql+psycopg://...`` -> ``postgresql://...`` for asyncpg and psql."""
    scheme, sep, rest = sqlalchemy_url.partition("://")
    return f"postgresql://{rest}" if sep and scheme.startswith("postgresql") else sqlalchemy_url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _memcached_up(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"version\r\n")
            return s.recv(64).startswith(b"VERSION")
    except OSError:
        return False


@contextmanager
def _memcached(env: Env) -> Iterator[None]:
    configured = os.environ.get("FREIGHT_BENCH_MEMCACHED")
    if configured:
        _require_loopback(configured)
        env.memcached = [configured]
        yield
        return
    binary = shutil.which("memcached")
    if binary is None:
        env.unavailable["memcached"] = "the memcached binary is not installed"
        yield
        return
    port = _free_port()
    args = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "256", "-t", "1"]
    if os.geteuid() == 0:
        args += ["-u", "root"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not _memcached_up(port) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _memcached_up(port):
            env.memcached = [f"127.0.0.1:{port}"]
        else:
            env.unavailable["memcached"] = f"a private memcached did not start on port {port}"
        yield
    finally:
        proc.terminate()
        proc.wait(5)


def _redis_keys(client: Any) -> set[bytes]:
    return set(client.scan_iter(count=1000))


@contextmanager
def redis_server(env: Env, url: str) -> Iterator[None]:
    """Use the Redis at ``url`` for ``env``; on exit delete the keys the run created (by pattern)."""
    _require_loopback(url)
    try:
        import redis
    except ImportError:
        env.unavailable["redis"] = "redis-py is not installed (pip install 'freight[redis]')"
        yield
        return
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        before = _redis_keys(client)
    except redis.RedisError as exc:
        env.unavailable["redis"] = f"{url}: {exc}"
        yield
        return
    env.redis_url = url
    try:
        yield
    finally:
        created = set(client.scan_iter(match=f"*{env.prefix}*", count=1000)) - before
        for start in range(0, len(created), 1000):
            client.delete(*list(created)[start : start + 1000])
        client.close()


def _postgres(env: Env, url: str) -> None:
    _require_loopback(url)
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
        env.postgres_url = url
    except Exception as exc:
        env.unavailable["postgres"] = f"{url}: {exc}"


@contextmanager
def keep_awake(enabled: bool = True) -> Iterator[None]:
    """Run one lowest-priority busy loop per CPU while the block runs (see the module doc)."""
    procs: list[subprocess.Popen[bytes]] = []
    if enabled:
        loop = [sys.executable, "-c", "while True: pass"]
        for _ in range(os.cpu_count() or 1):
            procs.append(subprocess.Popen(loop, preexec_fn=lambda: os.nice(19)))
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


@contextmanager
def bench_env(
    n: int,
    *,
    redis_url: str | None = None,
    postgres_url: str | None = None,
    workdir: Path | None = None,
    awake: bool = True,
) -> Iterator[Env]:
    """Find or start the servers, yield the :class:`Env`, and clean up everything the run made."""
    redis_url = redis_url or os.environ.get("FREIGHT_BENCH_REDIS_URL", DEFAULT_REDIS)
    postgres_url = postgres_url or os.environ.get("FREIGHT_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    with tempfile.TemporaryDirectory(prefix="freight-bench-") as tmp:
        env = Env(n=n, run_id=uuid.uuid4().hex[:8], workdir=workdir or Path(tmp))
        env.workdir.mkdir(parents=True, exist_ok=True)
        _postgres(env, postgres_url)
        with redis_server(env, redis_url), _memcached(env), keep_awake(awake):
            yield env
