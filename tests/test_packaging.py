"""`import freight` needs no extra; a driver whose client is missing names the extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BLOCKER = textwrap.dedent(
    """
    import sys
    BLOCKED = {"redis", "hiredis", "pymemcache", "sqlalchemy", "psycopg", "pymysql", "fakeredis", "cronsim"}

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by test)")
            return None

    sys.meta_path.insert(0, Block())
    """
)


def run_without_extras(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_import_freight_needs_no_extra() -> None:
    result = run_without_extras(
        """
        import freight
        from freight import Application, CacheManager, QueueManager, Job, Worker, FreightError
        import freight.cli, freight.config, freight.serialization, freight.schedule
        print("ok", freight.__version__)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok ")


@pytest.mark.parametrize(
    ("code", "extra"),
    [
        ("from freight.connections import redis_client; redis_client({'url': 'redis://127.0.0.1'})", "redis"),
        ("from freight.connections import sql_engine; sql_engine({'url': 'sqlite://'})", "database"),
        (
            "from freight.cache.manager import CacheManager\n"
            "CacheManager({'default': 'm', 'stores': {'m': {'driver': 'memcached',"
            " 'servers': ['127.0.0.1:11211']}}}).store().get('k')",
            "memcached",
        ),
        (
            "from freight.cache.manager import CacheManager\n"
            "CacheManager({'default': 'r', 'stores': {'r': {'driver': 'redis'}}}).store().get('k')",
            "redis",
        ),
        (
            "from freight.queue.manager import QueueManager\n"
            "QueueManager({'default': 'd', 'connections': {'d': {'driver': 'database',"
            " 'url': 'sqlite://'}}}).connection().size()",
            "database",
        ),
        (
            "from freight import Application\nApplication({}).schedule().call(print).daily().parsed",
            "schedule",
        ),
    ],
)
def test_missing_client_names_the_extra(code: str, extra: str) -> None:
    program = (
        "from freight.errors import MissingDependencyError\n"
        "try:\n" + textwrap.indent(code, "    ") + "\n"
        "except MissingDependencyError as exc:\n"
        "    print('MISSING', exc)\n"
    )
    result = run_without_extras(program)
    assert result.returncode == 0, result.stderr
    assert f'pip install "freight[{extra}]"' in result.stdout, result.stdout


def test_a_url_that_is_not_a_redis_url_is_a_configuration_error() -> None:
    from freight.connections import redis_client
    from freight.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="invalid redis URL"):
        redis_client({"url": "http://127.0.0.1:6379"})


def test_relative_sqlite_urls_resolve_against_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from freight.connections import sql_engine

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    first = sql_engine({"url": "sqlite:///storage/q.sqlite3"})
    monkeypatch.chdir(tmp_path / "b")
    second = sql_engine({"url": "sqlite:///storage/q.sqlite3"})
    assert first is not second
    assert second.url.database == str(tmp_path / "b" / "storage" / "q.sqlite3")
    assert sql_engine({"url": "sqlite:///storage/q.sqlite3"}) is second
    assert sql_engine({"url": "sqlite://"}).url.database in (None, "")
