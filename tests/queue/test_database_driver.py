"""What only the database driver promises: its table, locking per dialect, statements, errors."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from freight.errors import QueueConnectionError, QueueError
from freight.queue.drivers import database as database_driver
from freight.queue.drivers.database import DatabaseQueue, row_locks

if TYPE_CHECKING:
    from conftest import FakeClock

sa = pytest.importorskip("sqlalchemy")

SQL = ("sqlite", "postgres", "mysql")


def raw(n: int) -> str:
    return json.dumps({"uuid": uuid.uuid4().hex, "job": "tests:Nothing", "data": {"n": n}})


@pytest.fixture(params=SQL)
def sql_kind(request: pytest.FixtureRequest) -> str:
    """Each SQL backend in turn."""
    return str(request.param)


@pytest.fixture
def dq(
    sql_kind: str, queue_config: Callable[..., dict[str, Any]], make_queue: Callable[..., Any]
) -> DatabaseQueue:
    """A database queue on each SQL backend, with its own table."""
    queue = make_queue(queue_config(sql_kind))
    assert isinstance(queue, DatabaseQueue)
    return queue


@contextmanager
def statements(queue: DatabaseQueue) -> Iterator[list[str]]:
    """Collect the SQL statements ``queue`` sends while the block runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    # PostgreSQL writes, reserves and acknowledges through pools of its own
    engines = {queue.engine, queue._push_engine.engine, queue._ack_engine.engine}
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", record)


def row(queue: DatabaseQueue, job_id: str) -> dict[str, Any]:
    with queue.engine.connect() as conn:
        found = conn.execute(queue.table.select().where(queue.table.c.id == int(job_id))).mappings().one()
    return dict(found)


# -- the table -----------------------------------------------------------------------------
def test_the_table_is_created_on_first_use_with_its_index(dq: DatabaseQueue) -> None:
    """The first operation creates the table and the (queue, available_at, id) index."""
    inspector = sa.inspect(dq.engine)
    assert not inspector.has_table(dq.table.name)
    assert dq.size() == 0
    inspector = sa.inspect(dq.engine)
    columns = {c["name"] for c in inspector.get_columns(dq.table.name)}
    assert columns == {"id", "queue", "payload", "attempts", "reserved_at", "available_at", "created_at"}
    indexes = {tuple(i["column_names"]) for i in inspector.get_indexes(dq.table.name)}
    assert ("queue", "available_at", "id") in indexes


def test_create_tables_is_idempotent_and_safe_when_processes_race(
    sql_kind: str, queue_config: Callable[..., dict[str, Any]], make_queue: Callable[..., Any]
) -> None:
    """Several instances creating the same table at once all succeed."""
    config = queue_config(sql_kind)
    queues = [make_queue(config) for _ in range(4)]
    errors: list[BaseException] = []

    def create(queue: DatabaseQueue) -> None:
        try:
            queue.create_tables()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(q,)) for q in queues]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    queues[0].create_tables()
    assert sa.inspect(queues[0].engine).has_table(config["table"])


def test_a_row_records_reservation_and_release(dq: DatabaseQueue, clock: FakeClock) -> None:
    """available_at is the due time while waiting and the deadline while reserved."""
    pushed_at = clock.now
    dq.push_raw(raw(1), dq.default_queue)
    clock.advance(5)
    job = dq.pop()
    assert job is not None
    reserved = row(dq, job.id)
    assert (reserved["attempts"], reserved["reserved_at"]) == (1, clock.now)
    assert reserved["available_at"] == pytest.approx(clock.now + dq.retry_after)
    dq.release(job, 0)
    released = row(dq, job.id)
    assert released["reserved_at"] is None
    assert released["available_at"] == pytest.approx(pushed_at)  # back in its place
    assert released["created_at"] == pytest.approx(pushed_at)


# -- locking and statements ------------------------------------------------------------------
def test_locking_strategy_per_dialect(dq: DatabaseQueue, sql_kind: str) -> None:
    """SQLite takes its write lock up front; PostgreSQL and MariaDB 10.6+ skip locked rows."""
    dq.size()
    expected = {"sqlite": "BEGIN IMMEDIATE", "postgres": "FOR UPDATE SKIP LOCKED"}
    if sql_kind == "mysql":
        skip, _ = row_locks(dq.engine.dialect)
        expected["mysql"] = "FOR UPDATE SKIP LOCKED" if skip else "FOR UPDATE"
    assert dq.locking == expected[sql_kind]


@pytest.mark.parametrize(
    ("name", "mariadb", "version", "skip"),
    [
        ("postgresql", False, (9, 4), False),
        ("postgresql", False, (9, 5), True),
        ("mysql", False, (5, 7, 44), False),
        ("mysql", False, (8, 0, 0), False),
        ("mysql", False, (8, 0, 1), True),
        ("mysql", True, (10, 5, 9), False),
        ("mysql", True, (10, 6, 0), True),
        ("mariadb", True, (11, 4), True),
        ("sqlite", False, (3, 40, 1), False),
    ],
)
def test_skip_locked_is_used_only_where_the_server_has_it(
    name: str, mariadb: bool, version: tuple[int, ...], skip: bool
) -> None:
    """SKIP LOCKED from PostgreSQL 9.5, MySQL 8.0.1 and MariaDB 10.6; plain FOR UPDATE before."""
    dialect = SimpleNamespace(name=name, is_mariadb=mariadb, server_version_info=version)
    assert row_locks(dialect)[0] is skip


@pytest.mark.applies("sql_kind", lambda kind: kind != "sqlite")  # SQLite has no row locks
def test_without_skip_locked_concurrent_pops_still_never_share_a_job(
    sql_kind: str,
    queue_config: Callable[..., dict[str, Any]],
    make_queue: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The plain FOR UPDATE fallback (old MySQL/MariaDB) serialises poppers but stays exact."""
    monkeypatch.setattr(database_driver, "row_locks", lambda dialect: (False, "FOR UPDATE"))
    queue = make_queue(queue_config(sql_kind))
    queue.push_raw_many([(raw(i), queue.default_queue, 0) for i in range(120)])
    assert queue.locking == "FOR UPDATE"
    seen: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def consume() -> None:
        try:
            while jobs := queue.pop_many(limit=3):
                with lock:
                    seen.extend(json.loads(j.raw)["data"]["n"] for j in jobs)
                queue.ack_many(jobs)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(seen) == list(range(120))


@pytest.mark.parametrize(
    ("orig", "retried"),
    [
        (SimpleNamespace(args=(1213, "Deadlock found when trying to get lock")), True),
        (SimpleNamespace(args=(1205, "Lock wait timeout exceeded")), True),
        (SimpleNamespace(sqlstate="40P01", args=("deadlock detected",)), True),
        (SimpleNamespace(args=(1146, "Table doesn't exist")), False),
    ],
)
def test_a_transaction_aborted_by_a_deadlock_is_run_again(
    orig: Any, retried: bool, queue_config: Callable[..., dict[str, Any]], make_queue: Callable[..., Any]
) -> None:
    """Deadlock victims are retried (the database rolled them back); other errors are not."""
    queue = make_queue(queue_config("sqlite"))
    calls: list[int] = []

    def body(conn: Any) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise sa.exc.OperationalError("UPDATE jobs ...", {}, orig)  # type: ignore[arg-type]
        return "done"

    if retried:
        assert queue._run("reserve", body) == "done"
        assert len(calls) == 2
    else:
        with pytest.raises(QueueError):
            queue._run("reserve", body)
        assert len(calls) == 1


def test_round_trips_per_operation(dq: DatabaseQueue, sql_kind: str) -> None:
    """One statement to reserve on PostgreSQL (two elsewhere), one DELETE per ack batch,
    one INSERT per bulk chunk (one COPY on PostgreSQL)."""
    dq.size()
    with statements(dq) as seen:
        dq.push_raw_many([(raw(i), dq.default_queue, 0) for i in range(50)])
    # PostgreSQL: one COPY on a raw psycopg connection, which SQLAlchemy's events do not see
    assert seen == ([] if sql_kind == "postgres" else ["INSERT"])
    assert dq.size() == 50
    with statements(dq) as seen:
        jobs = dq.pop_many(limit=50)
    assert len(jobs) == 50
    expected = {"postgres": ["WITH"], "mysql": ["SELECT", "UPDATE"], "sqlite": ["BEGIN", "SELECT", "UPDATE"]}
    assert seen == expected[sql_kind]
    with statements(dq) as seen:
        dq.ack_many(jobs)
    assert seen == ["DELETE"]
    assert dq.size() == 0


# -- SQLite specifics ----------------------------------------------------------------------------
def test_sqlite_file_databases_switch_to_wal(
    queue_config: Callable[..., dict[str, Any]], make_queue: Callable[..., Any], tmp_path: Any
) -> None:
    """WAL keeps readers and the worker from blocking each other; it can be turned off."""

    def journal_mode(queue: DatabaseQueue) -> str:
        queue.size()
        with queue.engine.connect() as conn:
            return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar())

    assert journal_mode(make_queue(queue_config("sqlite"))) == "wal"
    plain = queue_config("sqlite", url=f"sqlite:///{tmp_path}/plain.sqlite3", sqlite_wal=False)
    assert journal_mode(make_queue(plain)) == "delete"


# -- errors ------------------------------------------------------------------------------------
def test_an_unreachable_database_raises_queue_connection_error(make_queue: Callable[..., Any]) -> None:
    """A refused connection names the connection and the address, never the password."""
    queue = make_queue(
        {
            "driver": "database",
            "name": "jobs-db",
            "url": "postgresql+psycopg://postgres:hunter2@127.0.0.1:1/test",
        }
    )
    with pytest.raises(QueueConnectionError) as caught:
        queue.push_raw(raw(1), "q")
    message = str(caught.value)
    assert "jobs-db" in message and "127.0.0.1:1" in message and "hunter2" not in message
    assert isinstance(caught.value.__cause__, sa.exc.SQLAlchemyError)


def test_a_table_of_the_wrong_shape_raises_queue_error(
    sql_kind: str, queue_config: Callable[..., dict[str, Any]], make_queue: Callable[..., Any]
) -> None:
    """A statement the database rejects becomes QueueError naming the connection."""
    config = queue_config(sql_kind)
    queue = make_queue(config)
    with queue.engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {config['table']} (id INTEGER PRIMARY KEY)")
    with pytest.raises(QueueError) as caught:
        queue.push_raw(raw(1), queue.default_queue)
    assert not isinstance(caught.value, QueueConnectionError)
    assert sql_kind in str(caught.value)


def test_create_reads_the_documented_defaults(sqlite_url: str) -> None:
    """table "jobs", queue "default", retry_after 90, SQLite in WAL mode."""
    queue = database_driver.create({"driver": "database", "url": sqlite_url, "name": "db"})
    assert (queue.table.name, queue.default_queue, queue.retry_after, queue.name) == (
        "jobs",
        "default",
        90.0,
        "db",
    )
    assert queue.sqlite_wal is True and queue.signer is None
    queue.engine.dispose()


# -- PostgreSQL durability ----------------------------------------------------------------------
def synchronous_commit(engine: Any) -> str:
    with engine.connect() as conn:
        return str(conn.exec_driver_sql("SHOW synchronous_commit").scalar())


@pytest.mark.parametrize("durable_acks", [False, True])
def test_postgres_pushes_wait_for_the_flush_and_acks_only_when_asked(
    durable_acks: bool, queue_config: Callable[..., dict[str, Any]], make_queue: Callable[..., Any]
) -> None:
    """Pushes always commit synchronously; reservations and acks skip the WAL flush unless
    ``durable_acks`` (a lost one only re-runs a job), and still do their work."""
    queue = make_queue(queue_config("postgres", durable_acks=durable_acks))
    assert isinstance(queue, DatabaseQueue) and queue.durable_acks is durable_acks
    assert synchronous_commit(queue._push_engine) == "on"
    assert synchronous_commit(queue._ack_engine) == ("on" if durable_acks else "off")
    queue.size()  # creates the table
    # the push goes through its own pool (raw psycopg, no pre-ping), committing synchronously
    assert synchronous_commit(queue._pusher) == "on"
    queue.push_raw(raw(1), queue.default_queue)
    assert queue.size() == 1
    engines: list[Any] = []
    sa.event.listen(queue._ack_engine, "before_cursor_execute", lambda conn, *a: engines.append(conn.engine))
    jobs = queue.pop_many(limit=5)
    queue.ack_many(jobs)
    assert len(jobs) == 1 and queue.size() == 0
    assert engines == [queue._ack_engine, queue._ack_engine]


def test_durable_acks_on_sqlite_changes_nothing(
    queue_config: Callable[..., dict[str, Any]], make_queue: Callable[..., Any]
) -> None:
    queue = make_queue(queue_config("sqlite"))
    assert queue.durable_acks is True and queue._ack_engine is queue._push_engine


def test_libpq_options_in_the_url_are_kept_beside_the_relaxed_commit(
    queue_config: Callable[..., dict[str, Any]], make_queue: Callable[..., Any]
) -> None:
    config = queue_config("postgres")
    config["url"] += "?options=-c%20statement_timeout%3D12345"
    queue = make_queue(config)
    with queue._ack_engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "12345ms"
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
