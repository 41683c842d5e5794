"""Failed-job stores (database on SQLite/PostgreSQL/MariaDB, redis, null) and retrying from them."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from jobs_fixture import FakeClock, MemoryQueue, Noop, memory_manager

from freight.errors import ConfigurationError, QueueConnectionError
from freight.queue import payload as payloads
from freight.queue.failed import (
    FailedJob,
    FailedJobStore,
    NullFailedJobStore,
    make_failed_store,
    retry_failed,
)
from freight.queue.failed_database import DatabaseFailedJobStore
from freight.queue.manager import QueueManager

STORES = ["sqlite", "postgres", "mysql", "redis"]


def raised(message: str) -> BaseException:
    try:
        raise ValueError(message)
    except ValueError as exc:
        return exc


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, unique: str) -> Iterator[FailedJobStore]:
    """A store of one backend, under a table name or key prefix of this test only."""
    kind = request.param
    clock = FakeClock()
    if kind == "redis":
        config = {
            "driver": "redis",
            "url": request.getfixturevalue("redis_url"),
            "prefix": f"freight-test:{unique}",
        }
    else:
        url = request.getfixturevalue(f"{kind}_url")
        config = {"driver": "database", "url": url, "table": f"failed_{unique}"}
    made = make_failed_store(config, QueueManager({}, clock=clock))
    yield made
    made.flush()
    if isinstance(made, DatabaseFailedJobStore):
        made.table.drop(made.engine, checkfirst=True)
    else:
        made.close()


def test_log_find_all_forget_flush(store: FailedJobStore) -> None:
    """A record keeps uuid, connection, queue, payload, exception with traceback and failed_at."""
    clock = store.clock
    assert isinstance(clock, FakeClock)
    first = store.log("redis", "emails", '{"job": "app:A"}', raised("first"))
    clock.now += 5
    second = store.log("database", "default", "x" * 100_000, raised("second"))
    assert len(first) == 36 and first != second
    record = store.find(first)
    assert record is not None
    assert (record.id, record.connection, record.queue, record.payload) == (
        first,
        "redis",
        "emails",
        '{"job": "app:A"}',
    )
    assert record.failed_at == clock.now - 5
    assert "Traceback (most recent call last)" in record.exception
    assert record.summary == "ValueError: first"
    assert [r.id for r in store.all()] == [second, first]  # newest first
    assert store.count() == 2
    assert store.find(second).payload == "x" * 100_000  # type: ignore[union-attr]
    assert store.forget(first) is True
    assert store.forget(first) is False
    assert store.find(first) is None
    assert store.flush() == 1
    assert store.all() == [] and store.count() == 0


def test_an_exception_never_raised_is_recorded_by_type_and_message(store: FailedJobStore) -> None:
    """A constructed exception (a bad payload's reason) has no traceback but keeps its text."""
    record_id = store.log("c", "q", "garbage", ValueError("payload is not valid JSON"))
    record = store.find(record_id)
    assert record is not None and record.exception == "ValueError: payload is not valid JSON"
    assert record.job_class == "?"


def test_database_tables_are_created_once_even_when_workers_race(sqlite_url: str, unique: str) -> None:
    """Several stores creating one table at the same moment all succeed."""
    stores = [
        make_failed_store({"driver": "database", "url": sqlite_url, "table": f"race_{unique}"}, None)
        for _ in range(4)
    ]
    errors: list[BaseException] = []

    def create(s: FailedJobStore) -> None:
        try:
            s.create_tables()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stores[0].log("c", "q", "p", ValueError("x"))
    assert stores[3].count() == 1


def test_job_class_reads_plain_and_signed_payloads() -> None:
    """The table shows the job class of JSON payloads, signed or not, and '?' otherwise."""
    body = payloads.build(Noop(), "default", 0.0)
    plain = FailedJob("1", "c", "q", payloads.dumps(body), "", 0.0)
    signed = FailedJob(
        "2", "c", "q", payloads.dumps(body, payloads.Signer("k" * 16, purpose="queue")), "", 0.0
    )
    assert plain.job_class == signed.job_class == "jobs_fixture:Noop"
    assert FailedJob("3", "c", "q", "[1]", "", 0.0).job_class == "?"
    assert FailedJob("4", "c", "q", "", "Traceback\n  ...\nKeyError: 'a'\n", 0.0).summary == "KeyError: 'a'"


def test_retry_pushes_the_payload_back_as_a_fresh_job() -> None:
    """retry_failed resets attempts, moves retry_until as far ahead as it was, keeps the uuid."""
    clock = FakeClock(1000.0)
    manager = memory_manager(clock, key="secret-secret-secret")
    job = Noop(n=1)
    job.retry_until = 60
    body = payloads.build(job, "emails", 900.0)
    body["attempts"] = 3
    record = FailedJob(
        "f1",
        "mem",
        "emails",
        payloads.dumps(body, payloads.Signer("secret-secret-secret", purpose="queue")),
        "",
        950.0,
    )
    retry_failed(manager, record)
    queue = manager.connection()
    assert isinstance(queue, MemoryQueue)
    reserved = queue.pop("emails")
    assert reserved is not None and reserved.attempts == 1
    again = payloads.loads(reserved.raw, queue.signer)
    assert (again["uuid"], again["retry_until"], again["created_at"]) == (body["uuid"], 1060.0, 1000.0)
    assert "attempts" not in again  # an old payload's count is dropped: the driver counts


def test_retry_pushes_an_undecodable_payload_back_unchanged() -> None:
    """A payload that could not be read (e.g. its class did not exist yet) goes back as it was."""
    manager = memory_manager(FakeClock())
    retry_failed(manager, FailedJob("f2", "mem", "default", "not json", "", 0.0))
    reserved = manager.connection().pop()
    assert reserved is not None and reserved.raw == "not json"


def test_null_store_discards() -> None:
    """The null store accepts and forgets everything."""
    null = make_failed_store({"driver": "null"}, None)
    assert isinstance(null, NullFailedJobStore)
    assert len(null.log("c", "q", "p", ValueError())) == 36
    assert (null.all(), null.find("x"), null.forget("x")) == ([], None, False)
    assert (null.flush(), null.count()) == (0, 0)


def test_unknown_and_custom_drivers() -> None:
    """An unknown name lists the known ones; a 'module:factory' path builds a custom store."""
    with pytest.raises(ConfigurationError, match="database, null, redis"):
        make_failed_store({"driver": "dynamo"}, None)
    custom = make_failed_store({"driver": "freight.queue.failed:create_null"}, None)
    assert isinstance(custom, NullFailedJobStore)
    with pytest.raises(ConfigurationError, match="did not return a FailedJobStore"):
        make_failed_store({"driver": "jobs_fixture:not_a_store"}, None)


def test_the_default_store_is_a_failed_jobs_table_beside_the_default_queue(sqlite_url: str) -> None:
    """With no 'failed' config the store uses the default database connection's URL."""
    connections = {"db": {"driver": "database", "url": sqlite_url}}
    manager = QueueManager({"default": "db", "connections": connections})
    store = manager.failed()
    assert isinstance(store, DatabaseFailedJobStore)
    assert str(store.engine.url) == sqlite_url and store.table_name == "failed_jobs"
    assert manager.failed() is store
    manager.purge()
    assert manager._failed is None


def test_unreachable_servers_raise_queue_connection_error() -> None:
    """A store whose server is down says which store and where."""
    pg = make_failed_store(
        {
            "driver": "database",
            "url": "postgresql+psycopg://postgres@127.0.0.1:1/test",
            "engine_options": {"connect_args": {"connect_timeout": 2}},
        },
        None,
    )
    with pytest.raises(QueueConnectionError, match="failed-job store .*127.0.0.1:1"):
        pg.all()
    redis_store = make_failed_store({"driver": "redis", "url": "redis://127.0.0.1:1/0"}, None)
    with pytest.raises(QueueConnectionError, match="failed-job store .*127.0.0.1:1"):
        redis_store.log("c", "q", "p", ValueError())
