"""Failed-job ids, failed:show, failed --json, corrupt records and retrying sync failures
(issue 12, items 7 (the failed-store half), 13 and 14)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jobs_fixture import Boom, reset

from freight.app import Application
from freight.cli import main
from freight.queue import payload as payloads


@pytest.fixture(params=["database", "redis"])
def config(request: pytest.FixtureRequest, tmp_path: Path, unique: str) -> Iterator[Path]:
    """Connection ``db`` (SQLite) and ``sync``; failed jobs in SQLite or redis."""
    url = f"sqlite:///{tmp_path}/queue.sqlite3"
    if request.param == "redis":
        failed = (
            f'driver = "redis"\nurl = "{request.getfixturevalue("redis_url")}"\nprefix = "{unique}:failed"\n'
        )
    else:
        failed = f'driver = "database"\nurl = "{url}"\n'
    path = tmp_path / "freight.toml"
    path.write_text(
        '[cache]\ndefault = "array"\n'
        f'[queue]\ndefault = "db"\n[queue.connections.db]\ndriver = "database"\nurl = "{url}"\n'
        '[queue.connections.sync]\ndriver = "sync"\nraise_exceptions = false\n'
        f"[queue.failed]\n{failed}"
    )
    reset()
    yield path
    Application.from_config(path).queue().failed().flush()
    reset()


def run(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--config", str(config)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_id_in_the_worker_log_is_the_failed_record_id(
    config: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    manager = Application.from_config(config).queue()
    job_id = manager.connection("sync").push(Boom())
    manager.connection("db").push_raw("not a payload at all", "default")
    with caplog.at_level(logging.ERROR, "freight.worker"):
        assert run(capsys, config, "work", "db", "--stop-when-empty", "--sleep", "0")[0] == 0
    fail_lines = [r.getMessage() for r in caplog.records if " FAIL " in r.getMessage()]
    logged_ids = {line.split()[1] for line in fail_lines}
    code, out, _ = run(capsys, config, "failed", "--json")
    records = json.loads(out)
    assert code == 0 and {r["id"] for r in records} == logged_ids | {job_id}
    for record in records:
        code, out, _ = run(capsys, config, "failed:show", record["id"])
        assert code == 0 and record["id"] in out and "Traceback" in out and record["payload"] in out
    code, out, _ = run(capsys, config, "failed:show", job_id, "--json")
    assert json.loads(out)["job"] == "jobs_fixture:Boom"
    assert run(capsys, config, "failed:show", "no-such-id")[0] == 1


def test_corrupt_records_are_listed_as_corrupt_and_skipped(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manager = Application.from_config(config).queue()
    store = manager.failed()
    good = payloads.dumps(payloads.build(Boom(), "default", 0.0))
    good_id = store.log("db", "default", good, ValueError("x"))
    corrupt_ids = plant_corrupt_records(store)
    code, out, _ = run(capsys, config, "failed")
    assert code == 0 and out.count("CORRUPT") == len(corrupt_ids)
    code, out, err = run(capsys, config, "retry", "all")
    assert (
        code == 1 and out.count("Pushed failed job") == 1 and err.count("skipped corrupt") == len(corrupt_ids)
    )
    assert manager.connection("db").size() == 1 and store.find(good_id) is None
    assert json.loads(run(capsys, config, "failed", "--json")[1])[0]["corrupt"]
    for corrupt in corrupt_ids:
        assert run(capsys, config, "forget", corrupt)[0] == 0
    assert store.all() == []


def plant_corrupt_records(store: Any) -> list[str]:
    """Records the store cannot read: garbage JSON, missing fields, wrong types."""
    if hasattr(store, "jobs_key"):  # redis: a hash of JSON records plus a sorted index
        planted = {
            "c1": b"\xff not json",
            "c2": b'{"id": "c2"}',
            "c3": b'{"id":1,"connection":[],"queue":2,"payload":3,"exception":4,"failed_at":"soon"}',
            "c4": b"[]",
        }
        for i, (key, raw) in enumerate(planted.items()):
            store.client.hset(store.jobs_key, key, raw)
            store.client.zadd(store.index_key, {key: 10.0 + i})
        return list(planted)
    import sqlalchemy as sa

    if store.engine.dialect.name != "sqlite":  # pragma: no cover - the fixture uses SQLite
        return []
    with store.engine.begin() as conn:
        for i, failed_at in enumerate(["soon", b"\x00", "1e999x"]):
            conn.execute(
                sa.text(
                    f"INSERT INTO {store.table_name} (uuid, connection, queue, payload, exception, "
                    "failed_at) VALUES (:u, 'db', 'default', :p, 'e', :f)"
                ),
                {"u": f"c{i}", "p": b"\xff" if i == 1 else "x", "f": failed_at},
            )
    return ["c0", "c1", "c2"]


def test_retrying_a_sync_failure_pushes_to_a_queue_and_forgets_only_after_the_push(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manager = Application.from_config(config).queue()
    job_id = manager.connection("sync").push(Boom())
    [record] = manager.failed().all()
    assert record.id == job_id and record.connection == "sync"
    broken = tmp_path / "broken.toml"
    text = config.read_text()
    sqlite_url = text.split('url = "', 1)[1].split('"', 1)[0]
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:9/none"  # port 9: refused at once
    broken.write_text(text.replace(sqlite_url, unreachable, 1))
    code, out, err = run(capsys, broken, "retry", job_id)
    assert code == 1 and "kept" in err
    assert manager.failed().find(job_id) is not None, "the record was forgotten although the push failed"
    code, out, _ = run(capsys, config, "retry", job_id)
    assert code == 0 and "back onto db:default" in out
    assert manager.connection("db").size() == 1 and manager.failed().find(job_id) is None
