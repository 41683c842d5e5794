"""What only the database store does, on SQLite, PostgreSQL and MariaDB/MySQL.

Every test works in tables named after its ``unique`` fixture and drops them at the
end; expiry follows a fake clock, so nothing sleeps.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("sqlalchemy")

import sqlalchemy as sa  # noqa: E402

from freight.cache.stores.database import KEY_BYTES, DatabaseStore, create, stored_key  # noqa: E402
from freight.errors import CacheConnectionError, CacheError, ConfigurationError  # noqa: E402

DIALECTS = {"sqlite": "sqlite_url", "postgresql": "postgres_url", "mysql": "mysql_url"}


class Clock:
    """A wall clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=list(DIALECTS))
def url(request: pytest.FixtureRequest) -> str:
    """The URL of each database in turn."""
    return str(request.getfixturevalue(DIALECTS[request.param]))


@pytest.fixture
def make(url: str, unique: str) -> Iterator[Callable[..., DatabaseStore]]:
    """Build stores on ``url`` (tables ``<unique>_cache``/``_locks`` unless told); drop their tables after."""
    made: list[DatabaseStore] = []

    def build(prefix: str | None = None, suffix: str = "", clock: Clock | None = None) -> DatabaseStore:
        config = {
            "name": "db",
            "url": url,
            "prefix": unique if prefix is None else prefix,
            "table": f"{unique}{suffix}_cache",
            "lock_table": f"{unique}{suffix}_locks",
        }
        store = create(config, SimpleNamespace(clock=clock or Clock()))
        made.append(store)
        return store

    yield build
    for store in made:
        store.drop_tables()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(make: Callable[..., DatabaseStore], clock: Clock) -> DatabaseStore:
    return make(clock=clock)


def rows(store: DatabaseStore, table: sa.Table | None = None) -> dict[str, Any]:
    """Every row of the cache (or lock) table as {key: (data, expiration)}."""
    table = store.cache_table if table is None else table
    with store.engine.connect() as conn:
        found = conn.execute(sa.select(table)).all()
    decode = lambda k: k if isinstance(k, str) else bytes(k).decode()  # noqa: E731
    return {decode(r[0]): (r[1], r[2]) for r in found}


def test_each_dialect_is_recognised(store: DatabaseStore, url: str) -> None:
    assert store.flavour == {"sqli": "sqlite", "post": "postgresql", "mysq": "mysql"}[url[:4]]
    assert store.put("k", b"v", None) and store.get("k") == b"v"


def test_tables_are_created_on_first_use_and_creating_twice_is_fine(
    make: Callable[..., DatabaseStore], unique: str
) -> None:
    first = make()
    inspector = sa.inspect(first.engine)
    assert not inspector.has_table(f"{unique}_cache")
    first.put("k", b"v", None)
    second = make()
    second.create_tables()
    second.create_tables()
    first.create_tables()
    assert {f"{unique}_cache", f"{unique}_locks"} <= set(sa.inspect(first.engine).get_table_names())
    assert second.get("k") == b"v"


def test_tables_can_be_created_by_many_at_once(make: Callable[..., DatabaseStore]) -> None:
    stores = [make(suffix="_race") for _ in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def create_tables(s: DatabaseStore) -> None:
        try:
            barrier.wait(5)
            s.create_tables()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=create_tables, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert all(s.add(f"k{i}", b"v", None) for i, s in enumerate(stores))


def test_add_takes_over_an_expired_row(store: DatabaseStore, clock: Clock, unique: str) -> None:
    assert store.add("k", b"first", 5)
    assert not store.add("k", b"second", 5)
    clock.now += 6
    assert rows(store)[f"{unique}:1:k"][0] == b"first", "the expired row is still in the table"
    assert store.add("k", b"third", 5)
    assert store.get("k") == b"third"
    assert rows(store)[f"{unique}:1:k"] == (b"third", clock.now + 5)
    assert not store.add("k", b"fourth", None)


def test_an_expired_row_reads_as_a_miss_and_is_deleted(
    store: DatabaseStore, clock: Clock, unique: str
) -> None:
    store.put("k", b"v", 10)
    clock.now += 10
    assert store.get("k") is None
    assert f"{unique}:1:k" not in rows(store)
    store.put("gone", b"v", 1)
    clock.now += 2
    assert store.forget("gone") is False, "an expired row does not count as existing"
    assert store.touch("gone", 100) is False


def test_increment_starts_at_zero_takes_over_expired_rows_and_keeps_the_ttl(
    store: DatabaseStore, clock: Clock, unique: str
) -> None:
    assert store.increment("n", 5) == 5
    assert rows(store)[f"{unique}:1:n"] == (b"5", None)
    store.put("t", b"10", 60)
    assert store.increment("t", -15) == -5
    assert rows(store)[f"{unique}:1:t"] == (b"-5", clock.now + 60)
    clock.now += 61
    assert store.increment("t", 2) == 2
    assert rows(store)[f"{unique}:1:t"] == (b"2", None)
    for bad in (b'"text"', b"1.5", b"\xff\xfe", b"99999999999999999999999"):
        store.put("bad", bad, None)
        with pytest.raises(CacheError, match="not an integer"):
            store.increment("bad")
        assert store.get("bad") == bad, "a failed increment changes nothing"


def test_prune_deletes_expired_rows_of_both_tables(store: DatabaseStore, clock: Clock, unique: str) -> None:
    store.put("short", b"1", 5)
    store.put("long", b"2", 500)
    store.put("forever", b"3", None)
    assert store.lock("brief", 5).acquire()
    assert store.lock("held", 0).acquire()
    clock.now += 10
    assert store.prune() == 2
    assert set(rows(store)) == {f"{unique}:1:long", f"{unique}:1:forever"}
    assert set(rows(store, store.lock_table)) == {f"{unique}:lock:held"}
    assert store.prune() == 0


def test_long_and_odd_keys_are_hashed_and_work(store: DatabaseStore, unique: str) -> None:
    huge = "ключ✓" * 2000  # 10,000 characters of unicode
    store.put(huge, b"huge", None)
    assert store.get(huge) == b"huge" and store.many([huge]) == {huge: b"huge"}
    stored = stored_key(f"{unique}:1:", huge)
    assert stored.startswith(f"{unique}:1:#sha256:") and len(stored.encode()) <= KEY_BYTES
    assert stored in rows(store)
    room = KEY_BYTES - len(unique) - 3
    fits, too_long = "é" * (room // 2), "é" * (room // 2) + "xx"
    assert stored_key(f"{unique}:1:", fits) == f"{unique}:1:{fits}", "up to 255 bytes of UTF-8 stay readable"
    assert stored_key(f"{unique}:1:", too_long).startswith(f"{unique}:1:#sha256:")
    impostor = stored[len(unique) + 3 :]  # a short key spelling the hashed form of another
    for key, value in {
        fits: b"fits",
        too_long: b"long",
        impostor: b"impostor",
        "nul\x00byte": b"nul",
    }.items():
        store.put(key, value, None)
    assert store.many([fits, too_long, impostor, "nul\x00byte", huge]) == {
        fits: b"fits",
        too_long: b"long",
        impostor: b"impostor",
        "nul\x00byte": b"nul",
        huge: b"huge",
    }


def test_keys_compare_exactly(store: DatabaseStore) -> None:
    """MySQL's usual collations ignore case and trailing spaces; the key column must not."""
    keys = ["Key", "key", "key ", "KEY", "kéy", "ke\u0301y"]
    store.put_many({k: k.encode() for k in keys}, None)
    assert store.many(keys) == {k: k.encode() for k in keys}
    assert store.lock("Name", 60).acquire() and store.lock("name", 60).acquire()


def test_flush_deletes_this_prefix_only(make: Callable[..., DatabaseStore], unique: str) -> None:
    mine = make(prefix=f"{unique}_a%")  # LIKE wildcards in the prefix must match literally
    others = [make(prefix=p) for p in (f"{unique}_ab", f"{unique}Xa", f"{unique}_a%x", f"{unique}_a")]
    for other in others:
        other.put("k", b"theirs", None)
    mine.put_many({"k": b"mine", "x" * 300: b"hashed"}, None)
    assert mine.lock("kept", 60).acquire()
    assert mine.flush()
    assert mine.many(["k", "x" * 300]) == {"k": None, "x" * 300: None}
    assert all(other.get("k") == b"theirs" for other in others)
    assert mine.lock("kept", 60).current_owner() is not None, "locks survive a flush"


def test_an_empty_prefix_flushes_only_its_own_rows(make: Callable[..., DatabaseStore]) -> None:
    bare, prefixed = make(prefix=""), make(prefix="p")
    bare.put("k", b"1", None)
    prefixed.put("k", b"2", None)
    assert bare.flush()
    assert bare.get("k") is None and prefixed.get("k") == b"2"


def test_locks_compare_owners_and_take_over_expired_rows(store: DatabaseStore, clock: Clock) -> None:
    first = store.lock("job", 10)
    assert first.acquire()
    assert not store.lock("job", 10).acquire()
    clock.now += 11
    late = store.lock("job", 10)
    assert late.acquire(), "an expired lock row is taken over"
    assert first.release() is False and first.refresh() is False
    assert late.current_owner() == late.owner
    assert late.refresh(100)
    clock.now += 50
    assert late.current_owner() == late.owner and late.release()


def test_a_dead_server_raises_cache_connection_error_naming_the_address(unique: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pytest.importorskip("psycopg")
    url = f"postgresql+psycopg://postgres:secret@127.0.0.1:{port}/test"
    dead = create({"name": "gone", "url": url, "prefix": unique}, SimpleNamespace(clock=Clock()))
    for call in (lambda: dead.get("k"), lambda: dead.create_tables(), lambda: dead.lock("l", 1).acquire()):
        with pytest.raises(CacheConnectionError, match=f"'gone'.*127.0.0.1:{port}") as caught:
            call()
        assert "secret" not in str(caught.value)
        assert isinstance(caught.value.__cause__, sa.exc.OperationalError)


def test_bad_configuration_is_refused(sqlite_url: str) -> None:
    oracle = SimpleNamespace(dialect=SimpleNamespace(name="oracle"))
    with pytest.raises(ConfigurationError, match="oracle"):
        DatabaseStore(oracle)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="prefix"):
        create({"name": "x", "url": sqlite_url, "prefix": "p" * 200}, None)
    with pytest.raises(ConfigurationError, match="url"):
        create({"name": "x"}, None)


def _statements(store: DatabaseStore, action: Callable[[], object]) -> list[str]:
    """The SQL ``action`` sends through ``store``'s engine."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)
    return seen


def test_postgres_cache_writes_commit_asynchronously_but_locks_do_not(postgres_url: str, unique: str) -> None:
    relaxed = create(
        {
            "name": "db",
            "url": postgres_url,
            "prefix": unique,
            "table": f"{unique}_c",
            "lock_table": f"{unique}_l",
        },
        None,
    )
    durable = create(
        {
            "name": "db",
            "url": postgres_url,
            "prefix": unique,
            "table": f"{unique}_c",
            "lock_table": f"{unique}_l",
            "durable_writes": True,
        },
        None,
    )
    try:
        relaxed.create_tables()
        asynchronous = "SET synchronous_commit TO OFF"
        sent = _statements(relaxed, lambda: relaxed.put("k", b"v", None))
        assert sent[0] == asynchronous and sent[-1] == "RESET synchronous_commit"
        assert asynchronous in _statements(relaxed, lambda: relaxed.increment("n"))
        assert asynchronous not in _statements(relaxed, lambda: relaxed.lock("l", 5).acquire())
        assert asynchronous not in _statements(relaxed, lambda: relaxed.get("k"))
        assert asynchronous not in _statements(durable, lambda: durable.put("k", b"v", None))
        with relaxed.engine.connect() as conn:  # what the pool hands out next is durable again
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
        assert durable.get("k") == b"v"
    finally:
        relaxed.drop_tables()


def test_sqlite_runs_in_wal_mode_and_hands_connections_back_fully_synchronous(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/wal.sqlite3"
    store = create({"name": "db", "url": url}, None)
    sent = _statements(store, lambda: store.put("k", b"v", None))
    assert "PRAGMA synchronous=NORMAL" in sent and sent[-1] == "PRAGMA synchronous=FULL"
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    plain = create({"name": "db", "url": f"sqlite:///{tmp_path}/plain.sqlite3", "sqlite_wal": False}, None)
    assert not any("synchronous" in s for s in _statements(plain, lambda: plain.put("k", b"v", None)))
    with plain.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"


def test_the_row_locking_increment_used_on_mysql(mysql_url: str, unique: str, clock: Clock) -> None:
    """MariaDB >= 10.5 increments with one upsert RETURNING; MySQL, which lacks RETURNING, takes
    the SELECT ... FOR UPDATE path. Force that path on MariaDB to cover it, threads included."""
    store = create(
        {
            "name": "db",
            "url": mysql_url,
            "prefix": unique,
            "table": f"{unique}_c",
            "lock_table": f"{unique}_l",
        },
        SimpleNamespace(clock=clock),
    )
    try:
        store.create_tables()
        store._increment_sql = None
        assert store.increment("n", 5) == 5 and store.increment("n", -7) == -2
        store.put("t", b"10", 60)
        assert store.increment("t") == 11 and rows(store)[f"{unique}:1:t"] == (b"11", clock.now + 60)
        clock.now += 61
        assert store.increment("t") == 1 and rows(store)[f"{unique}:1:t"] == (b"1", None)
        store.put("bad", b"007", None)
        with pytest.raises(CacheError, match="not an integer"):
            store.increment("bad")
        seen: list[int] = []

        def bump() -> None:
            seen.extend(store.increment("shared") for _ in range(50))

        threads = [threading.Thread(target=bump) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(seen) == list(range(1, 201))
    finally:
        store.drop_tables()


def test_sqlite_cells_of_the_wrong_type_read_as_misses(sqlite_url: str, unique: str) -> None:
    config = {
        "name": "db",
        "url": sqlite_url,
        "prefix": unique,
        "table": f"{unique}_c",
        "lock_table": f"{unique}_l",
    }
    store = create(config, SimpleNamespace(clock=Clock()))
    try:
        store.put("ok", b"1", None)
        table = store.cache_table.name
        bad = {
            "text": ("'abc'", "NULL"),
            "int": ("7", "NULL"),
            "real": ("1.5", "NULL"),
            "exp": ("x'01'", "'soon'"),
        }
        with store.engine.begin() as conn:
            for key, (value, expiry) in bad.items():
                k = stored_key(store.key_prefix, key)
                conn.exec_driver_sql(f"INSERT INTO {table} VALUES ('{k}', {value}, {expiry})")
        for key in bad:
            assert store.get(key) is None, f"a {key} cell is a miss"
        assert store.many([*bad, "ok"]) == {**dict.fromkeys(bad), "ok": b"1"}
        with pytest.raises(CacheError, match="not an integer"):
            store.increment("text")
    finally:
        store.drop_tables()


def test_a_tag_flush_really_deletes_its_members_rows(store: DatabaseStore) -> None:
    from freight.cache.repository import Repository

    cache = Repository(store, clock=store.clock)
    cache.put_many({f"k{i}": i for i in range(2000)}, 600, tags=["bulk"])
    cache.put("spared", 1, 600, tags=["other"])
    before = rows(store)
    assert sum(1 for k in before if k.startswith(f"{store.key_prefix}k")) == 2000
    started = time.monotonic()
    assert cache.flush_tags("bulk") == 2000
    assert time.monotonic() - started < 10, "gone within seconds"
    after = rows(store)
    assert not [k for k in after if k.startswith(f"{store.key_prefix}k")], "the rows are deleted, not hidden"
    assert f"{store.key_prefix}spared" in after
    assert len(after) < 20, f"no member records left behind: {sorted(after)}"
