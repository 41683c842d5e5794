"""The claim of a due time is exclusive across processes on every shared store.

Four processes race to claim the same 60 due times of one event through
``ScheduleState.claim`` (the store's atomic ``add``); every due time must be won by
exactly one of them. The full scheduler runs on redis and PostgreSQL in test_processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from freight.cache.manager import CacheManager

pytestmark = pytest.mark.slow

DUES = 60

RACER = """
import json, os, sys, time
from freight import Application

app = Application(json.loads(sys.argv[1]))
event = app.schedule().call(print).every_second().name("race")
state = app.schedule().state()
while not os.path.exists(sys.argv[2]):  # start together
    time.sleep(0.005)
print(json.dumps([due for due in range(1000, 1000 + int(sys.argv[3])) if state.claim(event, due)]))
"""


@pytest.fixture(params=["file", "redis", "memcached", "sqlite", "postgres", "mysql"])
def shared_store(request: pytest.FixtureRequest, unique: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    kind = request.param
    url_fixture = {"sqlite": "sqlite_url", "postgres": "postgres_url", "mysql": "mysql_url"}
    if kind == "file":
        store: dict[str, Any] = {"driver": "file", "path": str(tmp_path / "cache")}
    elif kind == "redis":
        store = {"driver": "redis", "url": request.getfixturevalue("redis_url")}
    elif kind == "memcached":
        store = {"driver": "memcached", "servers": request.getfixturevalue("memcached_servers")}
    else:
        url = request.getfixturevalue(url_fixture[kind])
        store = {"driver": "database", "url": url, "table": unique + "_c", "lock_table": unique + "_l"}
    config = {"default": "s", "prefix": unique, "stores": {"s": store}}
    manager = CacheManager(config)
    if store["driver"] == "database":
        manager.store().store.create_tables()  # type: ignore[attr-defined]
    yield {"cache": config}
    if kind in ("redis",) or store["driver"] == "database":
        manager.store().flush()
    if kind in ("postgres", "mysql"):
        import sqlalchemy

        with manager.store().store.engine.begin() as conn:  # type: ignore[attr-defined]
            for table in (unique + "_c", unique + "_l"):
                conn.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {table}"))
    manager.purge()


def test_four_processes_claim_each_due_time_once(shared_store: dict[str, Any], tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FREIGHT_")}
    argv = [sys.executable, "-c", RACER, json.dumps(shared_store), str(go), str(DUES)]
    racers = [
        subprocess.Popen(
            argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    go.touch()
    results = [racer.communicate(timeout=120) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), [err for _, err in results]
    won = [json.loads(out) for out, _ in results]
    counts = Counter(due for claims in won for due in claims)
    assert sorted(counts) == list(range(1000, 1000 + DUES))
    assert set(counts.values()) == {1}, {due: n for due, n in counts.items() if n > 1}
