"""The claim of a due time is exclusive across processes on every shared store.

Four processes race to claim the same 60 due times of one event through
``ScheduleState.claim`` (the store's atomic ``add``) on each store in turn, meeting at a
barrier before each store; every due time must be won by exactly one of them. One set of
processes serves every store (starting Python is the expensive part). The full
scheduler runs on redis and PostgreSQL in test_processes.
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
RACERS = 4

RACER = """
import json, os, sys, time
from pathlib import Path
from freight import Application

configs, barrier, me = json.loads(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
won = {}
for kind, config in configs.items():
    app = Application(config)
    event = app.schedule().call(print).every_second().name("race")
    state = app.schedule().state()
    state.cache.has("warm-up")  # connect before the race
    (barrier / f"{kind}.{me}").touch()
    while len(list(barrier.glob(f"{kind}.*"))) < int(sys.argv[4]):  # everyone is connected
        time.sleep(0.002)
    won[kind] = [due for due in range(1000, 1000 + int(sys.argv[5])) if state.claim(event, due)]
    app.close()
print(json.dumps(won))
"""


def _store(request: pytest.FixtureRequest, kind: str, unique: str, tmp_path: Path) -> dict[str, Any]:
    if kind == "file":
        return {"driver": "file", "path": str(tmp_path / "cache")}
    if kind == "redis":
        return {"driver": "redis", "url": request.getfixturevalue("redis_url")}
    if kind == "memcached":
        return {"driver": "memcached", "servers": request.getfixturevalue("memcached_servers")}
    url = request.getfixturevalue(
        {"sqlite": "sqlite_url", "postgres": "postgres_url", "mysql": "mysql_url"}[kind]
    )
    return {"driver": "database", "url": url, "table": unique + "_c", "lock_table": unique + "_l"}


@pytest.fixture
def shared_stores(request: pytest.FixtureRequest, unique: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An application config per shared store kind, tables created, cleaned up afterwards."""
    configs, managers = {}, []
    for kind in ("file", "redis", "memcached", "sqlite", "postgres", "mysql"):
        cache = {"default": "s", "prefix": unique, "stores": {"s": _store(request, kind, unique, tmp_path)}}
        manager = CacheManager(cache)
        if cache["stores"]["s"]["driver"] == "database":
            manager.store().store.create_tables()  # type: ignore[attr-defined]
        configs[kind] = {"cache": cache}
        managers.append((kind, manager))
    yield configs
    for kind, manager in managers:
        if kind in ("redis", "sqlite"):
            manager.store().flush()
        if kind in ("postgres", "mysql"):
            import sqlalchemy

            with manager.store().store.engine.begin() as conn:  # type: ignore[attr-defined]
                for table in (unique + "_c", unique + "_l"):
                    conn.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {table}"))
        manager.purge()


@pytest.mark.timeout(180)
def test_four_processes_claim_each_due_time_once_on_every_shared_store(
    shared_stores: dict[str, Any], tmp_path: Path
) -> None:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FREIGHT_")}
    racers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                RACER,
                json.dumps(shared_stores),
                str(barrier),
                str(i),
                str(RACERS),
                str(DUES),
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(RACERS)
    ]
    results = [racer.communicate(timeout=150) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), [err for _, err in results]
    won = [json.loads(out) for out, _ in results]
    for kind in shared_stores:
        counts = Counter(due for claims in won for due in claims[kind])
        assert sorted(counts) == list(range(1000, 1000 + DUES)), kind
        assert set(counts.values()) == {1}, (kind, {due: n for due, n in counts.items() if n > 1})
