"""The queue commands of ``python -m freight``, run in-process through ``freight.cli.main``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs_fixture import CALLS, Boom, Noop, reset

from freight.app import Application
from freight.cli import main
from freight.queue.manager import QueueManager


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    """A freight.toml: connection ``db`` (SQLite), a ``sync`` one, failed jobs beside them."""
    path = tmp_path / "freight.toml"
    url = f"sqlite:///{tmp_path}/queue.sqlite3"
    path.write_text(
        '[cache]\ndefault = "array"\n'
        f'[queue]\ndefault = "db"\n[queue.connections.db]\ndriver = "database"\nurl = "{url}"\n'
        '[queue.connections.sync]\ndriver = "sync"\nraise_exceptions = false\n'
        f'[queue.failed]\ndriver = "database"\nurl = "{url}"\n'
    )
    reset()
    yield path
    reset()
    app = Application.current()
    if app is not None:
        app.close()


def run(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--config", str(config)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def manager_for(config: Path) -> QueueManager:
    return Application.from_config(config).queue()


def test_failed_retry_forget_flush(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """failed lists records as a table; retry ID pushes one back; forget and flush delete."""
    assert run(capsys, config, "failed")[1].strip() == "No failed jobs."
    sync = manager_for(config).connection("sync")
    for _ in range(3):
        sync.push(Boom())
    store = manager_for(config).failed()
    first, second, third = (r.id for r in reversed(store.all()))
    code, out, _ = run(capsys, config, "failed")
    header, *rows = out.strip().splitlines()
    assert code == 0 and header.split() == ["ID", "Connection", "Queue", "Job", "Failed", "at", "Exception"]
    assert len(rows) == 3
    assert all("jobs_fixture:Boom" in r and "ValueError: boom on attempt 3" in r for r in rows)

    code, out, _ = run(capsys, config, "retry", first)
    assert (
        code == 0 and f"Pushed failed job {first} (jobs_fixture:Boom) back onto db:default" in out
    )  # never run inside the CLI
    assert len(CALLS) == 9, "a sync failure was run inside the CLI"
    assert store.find(first) is None and store.count() == 2
    assert manager_for(config).connection("db").size() == 1

    code, _, err = run(capsys, config, "retry", "no-such-id")
    assert code == 1 and "no failed job with id 'no-such-id'" in err
    code, out, _ = run(capsys, config, "forget", second)
    assert code == 0 and "Deleted failed job" in out and store.find(second) is None
    code, _, err = run(capsys, config, "forget", second)
    assert code == 1 and "no failed job" in err
    assert run(capsys, config, "flush")[1].strip() == "Deleted 1 failed job."
    assert store.find(third) is None and store.count() == 0


def test_retry_all_pushes_every_failed_job_back(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """retry all re-queues each record on its own connection and queue, then forgets it."""
    manager = manager_for(config)
    store = manager.failed()
    db = manager.connection("db")
    db.push(Noop(), "mail")
    reserved = db.pop("mail")
    assert reserved is not None
    store.log("db", "mail", reserved.raw, ValueError("x"))
    db.ack(reserved)
    store.log("db", "default", "not a payload", ValueError("y"))
    code, out, _ = run(capsys, config, "retry", "all")
    assert code == 0 and out.count("Pushed failed job") == 2
    assert (db.size("mail"), db.size("default"), store.count()) == (1, 1, 0)
    assert run(capsys, config, "retry", "all")[1].strip() == "No failed jobs."


def test_size_and_clear(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """size and clear act on the default connection's queue, or on the --queue list."""
    db = manager_for(config).connection("db")
    db.bulk([Noop(), Noop()])
    db.push(Noop(), "high")
    db.later(60, Noop())
    assert run(capsys, config, "size")[1].splitlines() == [  # every queue, by state
        "Queue       Ready  Delayed  Reserved  Total",
        "db:default  2      1        0         3",
        "db:high     1      0        0         1",
    ]
    assert run(capsys, config, "size", "db", "--queue", "high")[1].splitlines()[1].split() == [
        "db:high",
        "1",
        "0",
        "0",
        "1",
    ]
    db.clear("default")
    db.bulk([Noop(), Noop()])
    code, out, _ = run(capsys, config, "clear", "--queue", "default")
    assert code == 0 and out.strip() == "Cleared 2 jobs from db:default."
    assert (db.size(), db.size("high")) == (0, 1)


def test_queue_table_creates_the_tables(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """queue:table creates the jobs and failed-jobs tables; a sync connection has none."""
    import sqlalchemy as sa

    code, out, _ = run(capsys, config, "queue:table")
    assert code == 0 and "Created the jobs table of connection 'db'" in out
    engine = sa.create_engine(f"sqlite:///{config.parent}/queue.sqlite3")
    try:
        assert {"jobs", "failed_jobs"} <= set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    code, _, err = run(capsys, config, "queue:table", "sync")
    assert code == 1 and "has no tables" in err


def test_work_once_in_process(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """work --once runs one job and exits 0; --backoff and --tries are parsed."""
    db = manager_for(config).connection("db")
    db.bulk([Noop(n=1), Noop(n=2)])
    argv = ["work", "--once", "--quiet", "--memory", "0", "--backoff", "1,5", "--tries", "2"]
    code, _, _ = run(capsys, config, *argv)
    assert code == 0
    assert CALLS == [("Noop", {"n": 1}, 1)] and db.size() == 1
    code, _, err = run(capsys, config, "work", "--once", "--backoff", "soon")
    assert code == 1 and "--backoff" in err
