"""Values that used to be accepted and misbehave (issue 12, item 8): NaN and infinite TTLs
and delays, negative lock TTLs, the SQLite queue file's mode, an oversized MariaDB value."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from freight.cache.manager import CacheManager
from freight.errors import CacheConnectionError, CacheError, ConfigurationError
from freight.queue.job import Job
from freight.queue.manager import QueueManager


class Noop(Job):
    def handle(self) -> None:
        pass


NOT_FINITE = [float("nan"), float("inf"), float("-inf")]


@pytest.fixture(params=["array", "file"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    store = (
        {"driver": request.param, "path": str(tmp_path / "c")}
        if request.param == "file"
        else {"driver": "array"}
    )
    return CacheManager({"default": "s", "stores": {"s": store}}).store()


@pytest.mark.parametrize("ttl", NOT_FINITE, ids=repr)
def test_not_finite_ttls_are_refused_on_every_write(cache: Any, ttl: float) -> None:
    calls = [
        lambda: cache.put("k", 1, ttl),
        lambda: cache.add("k", 1, ttl),
        lambda: cache.put_many({"k": 1}, ttl),
        lambda: cache.remember("missing", ttl, lambda: 1),  # a hit never reads the TTL
        lambda: cache.touch("k", ttl),
    ]
    cache.put("k", 0, 60)
    for call in calls:
        with pytest.raises(ConfigurationError, match="finite"):
            call()
    assert cache.get("k") == 0


@pytest.mark.parametrize("seconds", [-1, -0.001, *NOT_FINITE, "10", True], ids=repr)
def test_lock_ttls_must_be_finite_and_not_negative(cache: Any, seconds: Any) -> None:
    with pytest.raises(ConfigurationError, match="lock"):
        cache.lock("l", seconds)
    first = cache.lock("l", 10)
    assert first.acquire() and not cache.lock("l", 10).acquire()


@pytest.mark.parametrize("delay", NOT_FINITE, ids=repr)
def test_not_finite_delays_are_refused(delay: float) -> None:
    queue = QueueManager({"default": "m", "connections": {"m": {"driver": "memory"}}}).connection()
    with pytest.raises(ConfigurationError, match="finite"):
        queue.later(delay, Noop())
    queue.later(dt.timedelta(seconds=5), Noop())


def test_the_sqlite_queue_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "storage" / "queue.sqlite3"
    manager = QueueManager(
        {"default": "d", "connections": {"d": {"driver": "database", "url": f"sqlite:///{path}"}}}
    )
    manager.connection().size()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if extra.exists():
            assert stat.S_IMODE(os.stat(extra).st_mode) == 0o600


def test_an_oversized_mariadb_value_is_a_value_error(mysql_url: str, unique: str) -> None:
    import sqlalchemy as sa

    config = {"driver": "database", "url": mysql_url, "table": f"{unique}_c", "lock_table": f"{unique}_l"}
    cache = CacheManager({"default": "d", "stores": {"d": config}}).store()
    try:
        cache.put("small", "x")
        with pytest.raises(CacheError, match="max_allowed_packet") as info:
            cache.put("big", "x" * (17 * 1024 * 1024))  # the test server's limit is 16 MiB
        assert not isinstance(info.value, CacheConnectionError)
        assert cache.get("small") == "x"
    finally:
        engine = sa.create_engine(mysql_url)
        with engine.begin() as conn:
            for table in (config["table"], config["lock_table"]):
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        engine.dispose()


def test_the_missing_dependency_hint_works_for_a_local_install() -> None:
    """Issue 12, item 18: freight is not on a public index; installed from a directory, the
    hint names that directory (PEP 610 direct_url.json), which pip can install extras from."""
    import json
    from importlib import metadata

    from freight.errors import MissingDependencyError

    message = str(MissingDependencyError("redis", "redis", "redis"))
    assert 'pip install "freight[redis]"' in message
    try:
        info = json.loads(metadata.distribution("freight").read_text("direct_url.json") or "null")
    except metadata.PackageNotFoundError:
        pytest.skip("freight is run from a source tree, not installed")
    if info and info["url"].startswith("file://"):
        assert f'{info["url"][7:]}[redis]"' in message
