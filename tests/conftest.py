"""Shared fixtures: the real servers the suites run against, and unique names per test.

Server addresses come from the environment and default to the standard loopback ports:

    FREIGHT_TEST_REDIS_URL      redis://127.0.0.1:6379/0
    FREIGHT_TEST_MEMCACHED      127.0.0.1:11211 (comma-separated); when unset and the
                                ``memcached`` binary exists, each xdist worker starts a
                                private server so ``flush()`` cannot disturb another worker
    FREIGHT_TEST_POSTGRES_URL   postgresql+psycopg://postgres@127.0.0.1:5432/test
    FREIGHT_TEST_MYSQL_URL      mysql+pymysql://root@127.0.0.1:3306/test
    FREIGHT_TEST_REDIS_CLUSTER  host:port,... of a Redis Cluster; when unset, serverkit starts
                                (or reuses) 3 masters + 3 replicas on 127.0.0.1:17001-17006
    FREIGHT_TEST_SENTINELS      host:port,... of sentinels watching "freight-test"; when
                                unset, serverkit's master 17101, replica 17102, sentinels 17111-3
    FREIGHT_TEST_MEMCACHED_RING host:port,... of several memcached nodes; when unset,
                                serverkit's 127.0.0.1:17201-17203

A server that cannot be reached skips its tests locally (summarised at the end of the
run) and fails them when ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

import serverkit

# Property tests judge results, not speed: on a loaded 2-CPU machine one example can take
# longer than Hypothesis's 200 ms default deadline, which it reports as a failure.
settings.register_profile("freight", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("freight")

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
_UNREACHABLE: dict[str, str] = {}


def unreachable(server: str, reason: str) -> None:
    """Skip (locally) or fail (in CI) because ``server`` cannot be reached."""
    _UNREACHABLE.setdefault(server, reason)
    message = f"{server} unreachable: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing server is a failure)", pytrace=False)
    pytest.skip(message)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for server, reason in sorted(_UNREACHABLE.items()):
        terminalreporter.write_line(f"freight: skipped tests needing {server}: {reason}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect parametrised cases that do not apply to their backend.

    ``@pytest.mark.applies(param, predicate)`` keeps a case only when
    ``predicate(value of param)`` is true, so a contract test that means nothing for a
    backend (a null store that keeps nothing, a driver that polls) is never generated
    rather than generated and skipped.
    """
    selected: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        applies = all(
            marker.args[1](params[marker.args[0]])
            for marker in item.iter_markers("applies")
            if marker.args[0] in params
        )
        (selected if applies else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def worker_id() -> str:
    """The pytest-xdist worker id ("gw0", ...) or "main"."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture
def unique() -> str:
    """A short name unique to this test, for key prefixes, queue and table names."""
    return f"t{worker_id()}{uuid.uuid4().hex[:10]}"


# -- Redis ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a reachable Redis server."""
    url = os.environ.get("FREIGHT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:
        unreachable("redis", f"{url}: {exc}")
    return url


# -- scale-out servers (tests/serverkit.py: started once, reused by every session) ------------
def _scaleout(setup: str, variable: str, default: list[str]) -> list[str]:
    configured = os.environ.get(variable)
    if configured:
        return [s.strip() for s in configured.split(",") if s.strip()]
    try:
        serverkit.ensure(setup)
    except Exception as exc:
        unreachable(f"redis {setup}" if setup != "ring" else "memcached ring", str(exc))
    return default


@pytest.fixture(scope="session")
def redis_cluster_nodes() -> list[str]:
    """``host:port`` of the nodes of a healthy 3-master Redis Cluster (with replicas)."""
    ports = serverkit.CLUSTER_PORTS
    return _scaleout("cluster", "FREIGHT_TEST_REDIS_CLUSTER", [f"{serverkit.HOST}:{p}" for p in ports])


@pytest.fixture(scope="session")
def redis_sentinels() -> list[str]:
    """``host:port`` of three sentinels watching the service ``serverkit.SERVICE``."""
    ports = serverkit.SENTINEL_PORTS
    return _scaleout("sentinel", "FREIGHT_TEST_SENTINELS", [f"{serverkit.HOST}:{p}" for p in ports])


@pytest.fixture(scope="session")
def memcached_ring() -> list[str]:
    """``host:port`` of three memcached nodes (a ring of this xdist worker's own)."""
    configured = os.environ.get("FREIGHT_TEST_MEMCACHED_RING")
    if configured:
        return [s.strip() for s in configured.split(",") if s.strip()]
    index = int(worker_id()[2:]) if worker_id().startswith("gw") else 0
    try:
        serverkit.ensure("ring", index)
    except Exception as exc:
        unreachable("memcached ring", str(exc))
    return [f"{serverkit.HOST}:{p}" for p in serverkit.ring_ports(index)]


# -- Memcached --------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _memcached_up(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(b"version\r\n")
            return s.recv(64).startswith(b"VERSION")
    except OSError:
        return False


@pytest.fixture(scope="session")
def memcached_servers() -> Iterator[list[str]]:
    """``host:port`` addresses of reachable memcached servers (private per xdist worker)."""
    configured = os.environ.get("FREIGHT_TEST_MEMCACHED")
    proc = None
    if configured:
        servers = [s.strip() for s in configured.split(",") if s.strip()]
    elif shutil.which("memcached"):
        port = _free_port()
        proc = subprocess.Popen(
            ["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "64", "-u", "root"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        servers = [f"127.0.0.1:{port}"]
        deadline = time.monotonic() + 5
        while not _memcached_up("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.02)
    else:
        servers = ["127.0.0.1:11211"]
    for server in servers:
        host, _, port = server.rpartition(":")
        if not _memcached_up(host, int(port)):
            if proc:
                proc.kill()
            unreachable("memcached", f"{server} (install memcached or set FREIGHT_TEST_MEMCACHED)")
    yield servers
    if proc:
        proc.terminate()
        proc.wait(5)


# -- SQL databases ----------------------------------------------------------------------
def _check_sql(server: str, url: str) -> str:
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        unreachable(server, f"{url}: {exc}")
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """SQLAlchemy URL of a reachable PostgreSQL database."""
    url = os.environ.get("FREIGHT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    return _check_sql("postgresql", url)


@pytest.fixture(scope="session")
def mysql_url() -> str:
    """SQLAlchemy URL of a reachable MariaDB/MySQL database."""
    url = os.environ.get("FREIGHT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
    return _check_sql("mariadb", url)


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    """SQLAlchemy URL of a fresh SQLite file database."""
    return f"sqlite:///{tmp_path}/freight.sqlite3"
