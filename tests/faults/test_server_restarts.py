"""Server restarts (issue 5, item 3).

Under a running worker: the test's private redis-server is crashed and restarted, then
its client connections are killed (CLIENT KILL); on PostgreSQL the worker's backends
(found by the test's own application_name, nobody else's) are terminated. The worker
logs it, reconnects with backoff and finishes every job. Cache stores raise
CacheConnectionError while their server is down and work again once it is back.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fault_jobs import Record
from faultkit import (
    Processes,
    RedisServer,
    free_port,
    report,
    require_binary,
    wait_until,
    worker_argv,
    worker_env,
)
from faultsinks import Sink, duplicates
from queueworld import CONNECTION, World

from freight.cache.manager import CacheManager
from freight.errors import CacheConnectionError

JOBS = 400
TROUBLE = re.compile(r"(?i)(connect|unreachable|reconnect|refused|closed|terminat|lost)")


def run_worker(procs: Processes, world: World, sink: Sink) -> Any:
    argv = worker_argv(world.config_path, CONNECTION, world.queue, "--sleep", "0.1", "--tries", "5")
    return procs.start("worker", argv, env=worker_env(sink))


def finish(sink: Sink, ids: list[str], world: World, procs: Processes, worker: Any) -> list[str]:
    expected = set(ids)

    def lost() -> str:
        return f"never completed: {sorted(expected - set(sink.ids()))[:10]}\n{procs.logs()}"

    wait_until(lambda: expected <= set(sink.ids()), 60, "every job to complete", 0.1, lost)
    wait_until(lambda: world.size() == 0, 30, "the queue to drain", 0.1, lost)
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0, worker.tail()
    return sink.ids()


def test_worker_survives_redis_restart_and_client_kill(
    private_redis: RedisServer,
    make_world: Callable[..., World],
    make_sink: Callable[[str, str], Sink],
    procs: Processes,
    redis_url: str,
) -> None:
    world = make_world("redis", private_redis.url, retry_after=2)
    sink = make_sink("redis", redis_url)  # completions live on the shared server, not the one restarted
    ids = [f"job-{i}" for i in range(JOBS)]
    world.push_many(Record({"id": i, "work": 0.004}) for i in ids)
    started = time.monotonic()
    worker = run_worker(procs, world, sink)
    wait_until(lambda: sink.count() >= JOBS // 4, 30, "a quarter of the jobs", 0.01, procs.logs)
    private_redis.restart(down_for=0.5)
    wait_until(lambda: sink.count() >= JOBS // 2, 30, "half of the jobs after the restart", 0.01, procs.logs)
    admin = private_redis.client()
    killed = admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    admin.close()
    done = finish(sink, ids, world, procs, worker)
    log = worker.output()
    report(
        "redis_restart",
        jobs=JOBS,
        server_restarts=1,
        clients_killed=killed,
        duplicates=duplicates(done),
        seconds=round(time.monotonic() - started, 1),
    )
    assert TROUBLE.search(log), f"the worker did not log the lost connection:\n{worker.tail()}"
    assert world.failed.count() == 0, [f.summary for f in world.failed_jobs()]


def _with_app_name(url: str, name: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}application_name={name}"


def _terminate(engine: Any, app_name: str) -> int:
    import sqlalchemy as sa

    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :name AND pid <> pg_backend_pid()"
            ),
            {"name": app_name},
        ).all()
        conn.commit()
    return len(rows)


def _terminate_mid_statement(admin: Any, table: str, app_name: str) -> int:
    """Hold a lock on the jobs table until the worker's next statement waits for it, then
    terminate the worker's backends: the worker loses its connection mid-statement."""
    import sqlalchemy as sa

    def waiting() -> bool:
        with admin.connect() as conn:
            sql = (
                "SELECT COUNT(*) FROM pg_stat_activity "
                "WHERE application_name = :n AND wait_event_type = 'Lock'"
            )
            return bool(conn.execute(sa.text(sql), {"n": app_name}).scalar_one())

    with admin.connect() as locker:
        locker.execute(sa.text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        wait_until(waiting, 10, "the worker to wait on the locked table")
        terminated = _terminate(admin, app_name)
        locker.rollback()
    return terminated


def test_worker_survives_terminated_postgres_backends(
    postgres_url: str,
    make_world: Callable[..., World],
    make_sink: Callable[[str, str], Sink],
    procs: Processes,
    unique: str,
) -> None:
    import sqlalchemy as sa

    app_name = f"freight-fault-{unique}"
    world = make_world(
        "postgres", postgres_url, retry_after=2, worker_url=_with_app_name(postgres_url, app_name)
    )
    sink = make_sink("sql", postgres_url)
    ids = [f"job-{i}" for i in range(JOBS)]
    world.push_many(Record({"id": i, "work": 0.004}) for i in ids)
    admin = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    started = time.monotonic()
    worker = run_worker(procs, world, sink)
    terminated = 0
    try:
        for fraction in (4, 2):
            wait_until(
                lambda f=fraction: sink.count() >= JOBS // f,
                30,
                f"1/{fraction} of the jobs",
                0.01,
                procs.logs,
            )
            terminated += _terminate_mid_statement(admin, world.table, app_name)
        done = finish(sink, ids, world, procs, worker)
    finally:
        admin.dispose()
    report(
        "postgres_terminate",
        jobs=JOBS,
        backends_terminated=terminated,
        duplicates=duplicates(done),
        seconds=round(time.monotonic() - started, 1),
    )
    assert TROUBLE.search(worker.output()), f"the worker did not log the lost connection:\n{worker.tail()}"
    assert world.failed.count() == 0, [f.summary for f in world.failed_jobs()]


class Memcached:
    """A private memcached on its own loopback port."""

    def __init__(self, procs: Processes) -> None:
        self.procs = procs
        self.port = free_port()
        self.proc: Any = None

    def start(self) -> None:
        import socket

        argv = ["memcached", "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "16", "-u", "root"]
        self.proc = self.procs.start(f"memcached-{self.port}", argv)

        def up() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"version\r\n")
                    return s.recv(64).startswith(b"VERSION")
            except OSError:
                return False

        wait_until(up, 10, "private memcached", 0.02, self.proc.tail)

    def kill(self) -> None:
        self.proc.kill9()


def _store_while_down(repo: Any, what: str) -> float:
    """Every operation raises CacheConnectionError, quickly; the slowest one's seconds."""
    slowest = 0.0
    for op in (
        lambda: repo.get("k"),
        lambda: repo.put("k", "v", 60),
        lambda: repo.increment("n"),
        lambda: repo.add("a", 1, 60),
        lambda: repo.forget("k"),
    ):
        t = time.monotonic()
        with pytest.raises(CacheConnectionError) as info:
            op()
        slowest = max(slowest, time.monotonic() - t)
        assert "127.0.0.1" in str(info.value) or what in str(info.value), str(info.value)
    return slowest


@pytest.mark.parametrize("driver", ["redis", "memcached"])
def test_cache_store_raises_typed_error_while_down_and_recovers(
    driver: str, procs: Processes, tmp_path: Path, unique: str, redis_url: str
) -> None:
    require_binary("redis-server" if driver == "redis" else "memcached")
    server: Any
    if driver == "redis":
        server = RedisServer(procs, tmp_path / "redis")
        server.start()
        store = {"driver": "redis", "url": server.url, "socket_timeout": 2}
    else:
        server = Memcached(procs)
        server.start()
        store = {"driver": "memcached", "servers": [f"127.0.0.1:{server.port}"]}
    manager = CacheManager({"default": driver, "prefix": unique, "stores": {driver: store}})
    repo = manager.store()
    assert repo.put("k", {"v": 1}, 60)
    server.kill()
    slowest = _store_while_down(repo, driver)
    server.start()
    back = time.monotonic()

    def works() -> bool:
        try:
            return repo.get("k", "miss") in (
                {"v": 1},
                "miss",
            )  # redis keeps it (AOF); memcached restarts empty
        except CacheConnectionError:  # memcached keeps a dead server out of the ring for dead_timeout (1 s)
            return False

    wait_until(works, 10, f"the {driver} store to work again")
    recovered = time.monotonic() - back
    assert repo.put("k", {"v": 2}, 60) and repo.get("k") == {"v": 2}
    assert repo.increment("n") == 1
    report(
        f"cache_down[{driver}]", slowest_error_seconds=round(slowest, 3), recovered_after=round(recovered, 2)
    )
    assert slowest < 5, f"an operation on a dead {driver} server took {slowest:.1f}s to fail"
    manager.purge()


def test_database_cache_store_survives_terminated_backends_and_reports_a_dead_server(
    postgres_url: str, unique: str
) -> None:
    import sqlalchemy as sa

    app_name = f"freight-cache-{unique}"
    table = f"{unique}_cache"
    stores = {
        "db": {"driver": "database", "url": _with_app_name(postgres_url, app_name), "table": table},
        "dead": {
            "driver": "database",
            "url": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test",
            "table": table,
        },
    }
    manager = CacheManager({"default": "db", "prefix": unique, "stores": stores})
    admin = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    try:
        repo = manager.store("db")
        assert repo.put("k", {"v": 1}, 60)
        terminated = _terminate(admin, app_name)
        assert terminated >= 1
        assert repo.get("k") == {"v": 1}  # a connection that died idle in the pool is replaced
        assert repo.increment("n") == 1
        dead = manager.store("dead")
        t = time.monotonic()
        with pytest.raises(CacheConnectionError) as info:
            dead.get("k")
        assert "127.0.0.1" in str(info.value), str(info.value)
        report(
            "cache_down[database]",
            backends_terminated=terminated,
            dead_server_error_seconds=round(time.monotonic() - t, 3),
        )
    finally:
        manager.purge()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        admin.dispose()
