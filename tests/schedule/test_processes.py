"""Exactly once per due time across real ``schedule:work`` processes on a shared store.

By default each test runs an ``every_second()`` event over a short window (real
processes, the real store, the real clock: only the period is shorter);
``FREIGHT_SCHEDULE_SOAK=1`` runs the full-length versions (``every_ten_seconds()``, 40 s
and 60 s, a 25 s callable).
"""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from procs import Cluster, cluster, soak

from freight.cache.manager import CacheManager

pytestmark = pytest.mark.slow

PERIOD = 10 if soak() else 1
EVERY = "ten_seconds" if soak() else "second"


@pytest.fixture(params=["redis", "postgres"])
def store(request: pytest.FixtureRequest, unique: str) -> Iterator[dict[str, Any]]:
    """A cache config on a shared server (redis, or PostgreSQL through the database store)."""
    if request.param == "redis":
        stores = {"s": {"driver": "redis", "url": request.getfixturevalue("redis_url")}}
    else:
        url = request.getfixturevalue("postgres_url")
        stores = {
            "s": {"driver": "database", "url": url, "table": unique + "_c", "lock_table": unique + "_l"}
        }
    config = {"cache": {"default": "s", "prefix": unique, "stores": stores}}
    manager = CacheManager(config["cache"])
    if request.param == "postgres":
        manager.store().store.create_tables()  # type: ignore[attr-defined]
    yield config
    manager.store().flush()
    if request.param == "postgres":
        import sqlalchemy

        engine = manager.store().store.engine  # type: ignore[attr-defined]
        with engine.begin() as conn:
            for table in (unique + "_c", unique + "_l"):
                conn.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {table}"))
    manager.purge()


def check_every_tick_once(group: Cluster, stopped_at: float) -> tuple[int, int]:
    """Every due time from the first fired to the last before ``stopped_at`` fired exactly once."""
    dues = [int(fields[0]) for fields in group.lines("tick")]
    doubled = {due: n for due, n in Counter(dues).items() if n > 1}
    assert not doubled, f"fired more than once: {doubled}"
    # due times before the last few seconds: a loaded machine may delay the very last ones past the stop
    expected = set(range(min(dues), int(stopped_at) - max(PERIOD, 3), PERIOD))
    missed = sorted(expected - set(dues))
    assert not missed, f"never fired: {missed}\n{group.output()[-3000:]}"
    return len(dues), len(expected)


@pytest.mark.timeout(120)
def test_three_schedulers_fire_every_tick_exactly_once(
    store: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group = cluster(tmp_path, store, SCHED_EVERY=EVERY)
    group.start(3)
    time.sleep(40 if soak() else 8)
    stopped_at = time.time()
    assert group.stop() == [0, 0, 0], group.output()
    fired, expected = check_every_tick_once(group, stopped_at)
    by = Counter(fields[1] for fields in group.lines("tick"))
    with capsys.disabled():
        print(f"\n[schedule] 3 schedulers: {fired} runs, {expected} due times checked, by pid {dict(by)}")


@pytest.mark.timeout(150)
@pytest.mark.applies("store", lambda kind: soak() or kind == "redis")  # PostgreSQL too in the soak run
def test_killing_the_scheduler_that_fired_last_misses_and_doubles_nothing(
    store: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group = cluster(tmp_path, store, SCHED_EVERY=EVERY)
    by_pid = {proc.pid: proc for proc in group.start(3)}
    kills, every, total = 0, (10 if soak() else 3), (60 if soak() else 12)
    started = time.monotonic()
    while time.monotonic() - started < total:
        time.sleep(every)
        ticks = group.lines("tick")
        victim = by_pid.pop(int(ticks[-1][1]))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        kills += 1
        (proc,) = group.start()  # three schedulers again
        by_pid[proc.pid] = proc
    time.sleep(max(2 * PERIOD, 4))
    stopped_at = time.time()
    codes = group.stop()
    assert codes.count(-signal.SIGKILL) == kills and codes.count(0) == 3, codes
    fired, expected = check_every_tick_once(group, stopped_at)
    with capsys.disabled():
        print(f"\n[schedule] {kills} SIGKILLs: {fired} runs, {expected} due times checked")


@pytest.mark.timeout(300)
def test_without_overlapping_never_runs_twice_at_once_and_a_dead_holder_frees_the_lock(
    redis_url: str, unique: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {
        "cache": {"default": "r", "prefix": unique, "stores": {"r": {"driver": "redis", "url": redis_url}}}
    }
    runtime, expires = (25.0, 15.0) if soak() else (2.5, 6.0)  # refreshed every expires / 3
    group = cluster(tmp_path, config, SCHED_EVERY=EVERY, SCHED_SLOW=str(runtime), SCHED_EXPIRES=str(expires))
    group.grace = str(runtime + 10)  # SIGTERM at the end lets the run going finish
    procs = {proc.pid: proc for proc in group.start(2)}
    time.sleep(40 if soak() else 2 * runtime)  # several runs, and due times skipped meanwhile
    # kill the process running the callable now (a start without its end); the lock lapses within `expires`
    deadline = time.monotonic() + 3 * runtime
    while True:
        ended = {(f[0], f[1]) for f in group.lines("end")}
        going = [f for f in group.lines("start") if (f[0], f[1]) not in ended]
        if going or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert going, group.output()
    victim = procs.pop(int(going[-1][1]))
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = time.time()
    time.sleep(expires + runtime + PERIOD)
    assert group.stop().count(0) == 1, group.output()
    CacheManager(config["cache"]).store().flush()

    starts = {(f[0], f[1]): float(f[2]) for f in group.lines("start")}
    ends = {(f[0], f[1]): float(f[2]) for f in group.lines("end")}
    spans = sorted((start, ends.get(key, killed_at)) for key, start in starts.items())
    for (_, end), (next_start, _) in zip(spans, spans[1:], strict=False):
        assert next_start >= end, f"two runs overlapped: {spans}"
    after = [start for start, _ in spans if start > killed_at]
    assert after, "no run after the holder died"
    assert after[0] - killed_at <= expires + PERIOD + 3, (after[0] - killed_at, spans)
    with capsys.disabled():
        gap = after[0] - killed_at
        print(f"\n[schedule] overlap: {len(spans)} runs of {runtime} s; next run {gap:.1f} s after the kill")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("grace", "runtime", "finishes"), [(10.0, 3.0, True), (0.5, 8.0, False)], ids=["waits", "gives-up"]
)
def test_sigterm_waits_for_a_running_callable_up_to_the_grace_period(
    grace: float, runtime: float, finishes: bool, tmp_path: Path
) -> None:
    config = {
        "cache": {"default": "file", "stores": {"file": {"driver": "file", "path": str(tmp_path / "c")}}}
    }
    group = cluster(tmp_path, config, SCHED_EVERY="second", SCHED_SLOW=str(runtime), SCHED_EXPIRES="30")
    group.grace = str(grace)
    (proc,) = group.start()
    deadline = time.monotonic() + 10
    while not group.lines("start"):
        assert time.monotonic() < deadline, group.output()
        time.sleep(0.05)
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(30)
    waited = time.monotonic() - signalled
    starts, ends = group.lines("start"), group.lines("end")
    assert len(starts) == 1  # no new run after SIGTERM
    if finishes:
        assert code == 0 and len(ends) == 1 and 1.5 < waited < 10, (code, waited, group.output())
    else:
        assert code == 1 and ends == [] and waited < 5, (code, waited, group.output())
        assert re.search(r"still going after \d+ s: slow", group.output()), group.output()
