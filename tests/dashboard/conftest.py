"""Dashboard fixtures: an isolated Application per backend, written as an importable module so
that a worker subprocess (``python -m freight --app dash_app:app work``) uses the same one.

``dash_app(kind)`` returns the Application; the module ``dash_app.py`` lives in
``tmp_path`` together with a copy of ``dash_jobs.py``. Redis keys (unique prefix) and
SQL tables (unique jobs table, failed jobs in SQLite) are removed afterwards; metrics rows
are told apart by the unique queue name.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = """
from freight import Application
app = Application(json.loads({config!r}))
"""


@pytest.fixture
def dash_app(request: pytest.FixtureRequest, unique: str, tmp_path: Any) -> Iterator[Callable[..., Any]]:
    cleanups: list[Callable[[], None]] = []
    made: list[Any] = []
    shutil.copy(os.path.join(HERE, "dash_jobs.py"), tmp_path / "dash_jobs.py")
    sys.path.insert(0, str(tmp_path))

    def build(kind: str, **extra: Any) -> Any:
        from freight import Application

        if kind == "redis":
            url = request.getfixturevalue("redis_url")
            conn = {"driver": "redis", "url": url, "prefix": f"freight-test:{unique}"}

            def drop_keys() -> None:
                import redis

                client = redis.Redis.from_url(url)
                keys = list(client.scan_iter(match=f"freight-test:{unique}:*", count=500))
                if keys:
                    client.delete(*keys)
                client.close()

            cleanups.append(drop_keys)
        else:
            url = request.getfixturevalue(f"{kind}_url")
            conn = {"driver": "database", "url": url, "table": f"jobs_{unique}"}

            def drop_table() -> None:
                from freight.connections import sql_engine
                from freight.queue.drivers.database import DatabaseQueue

                DatabaseQueue(sql_engine({"url": url}), table=conn["table"]).drop_tables()

            cleanups.append(drop_table)
        conn["queue"] = f"q{unique}"
        config = {
            "cache": {"default": "array", "stores": {"array": {"driver": "array"}}},
            "queue": {
                "default": kind,
                "connections": {kind: conn},
                "failed": {
                    "driver": "database",
                    "url": f"sqlite:///{tmp_path}/failed.sqlite3",
                    "table": "failed",
                },
            },
            **extra,
        }
        (tmp_path / "dash_app.py").write_text("import json\n" + MODULE.format(config=json.dumps(config)))
        app = Application(config)
        made.append(app)
        return app

    yield build
    for app in made:
        app.close()
    for cleanup in reversed(cleanups):
        cleanup()
    sys.path.remove(str(tmp_path))
