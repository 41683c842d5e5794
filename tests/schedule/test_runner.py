"""The scheduler's pass on an injected clock: missed due times, catch_up, overlap, outcomes."""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from pathlib import Path

import pytest
from schedkit import FakeClock, Recorder, array_app, inline

from freight import Application, Job
from freight.errors import CacheConnectionError
from freight.schedule import Scheduler

T0 = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC).timestamp()


def test_missed_due_times_are_skipped_and_logged_and_catch_up_runs_one_late(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    app = array_app()
    schedule = app.schedule()
    schedule.call(recorder).hourly().name("skips")
    schedule.call(recorder).hourly().name("catches up").catch_up()
    clock = FakeClock(T0 - 1)
    first = Scheduler(schedule, clock=clock, spawn=inline)
    first.start()
    clock.now = T0 + 30  # 30 s late is within the grace of an hourly event
    assert first.tick() == 2
    # the scheduler is down from 10:00:30 to 13:30; a new one starts from what the store says
    clock.now = T0 + 3.5 * 3600
    second = Scheduler(schedule, clock=clock, spawn=inline)
    second.start()
    with caplog.at_level(logging.WARNING, logger="freight.schedule"):
        assert second.tick() == 1
    assert recorder.dues["skips"] == [T0]
    assert recorder.dues["catches up"] == [T0, T0 + 3 * 3600]  # one late run, for 13:00
    assert "skips missed 3 due time(s), the last at 2026-06-01T13:00:00+00:00; skipped" in caplog.text
    assert "catches up missed 3 due time(s)" in caplog.text and "running it once now" in caplog.text
    rows = {row["name"]: row for row in schedule.status(now=clock.now)}
    assert rows["skips"]["last_missed"]["count"] == 3 and not rows["skips"]["last_missed"]["caught_up"]
    assert rows["catches up"]["last_run"]["due"] == T0 + 3 * 3600
    # back on time: both run at 14:00, nothing is reported missed again
    caplog.clear()
    clock.now = T0 + 4 * 3600
    with caplog.at_level(logging.WARNING, logger="freight.schedule"):
        assert second.tick() == 2
    assert "missed" not in caplog.text


def test_a_long_outage_of_a_frequent_event_is_not_walked_second_by_second(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    app = array_app()
    app.schedule().call(recorder).every_second().name("s")
    clock = FakeClock(T0)
    scheduler = Scheduler(app.schedule(), clock=clock, spawn=inline)
    scheduler.start()
    clock.now = T0 + 30 * 86400
    with caplog.at_level(logging.WARNING, logger="freight.schedule"):
        assert scheduler.tick() == 6  # only those at most 5 s late (the grace of an every-second event)
    assert recorder.dues["s"] == [int(clock.now) - 5 + i for i in range(6)]
    assert "s missed more than 1054 due time(s)" in caplog.text  # 1000 walked + 54 in the last minute
    assert app.schedule().status(clock.now)[0]["last_missed"]["count"] > 1000


def test_without_overlapping_skips_due_times_while_a_run_goes_on() -> None:
    app = array_app()
    gate, guard = threading.Event(), threading.Lock()
    seen = {"active": 0, "most": 0, "runs": 0}

    def slow() -> None:
        with guard:
            seen["active"] += 1
            seen["runs"] += 1
            seen["most"] = max(seen["most"], seen["active"])
        gate.wait(10)
        with guard:
            seen["active"] -= 1

    app.schedule().call(slow).every_ten_seconds().without_overlapping(expires=30).name("slow")
    clock = FakeClock(T0 - 1)
    scheduler = Scheduler(app.schedule(), clock=clock)  # real threads
    scheduler.start()
    for step in range(3):  # 10:00:00 starts a 25 s run; 10:00:10 and 10:00:20 find it going
        clock.now = T0 + 10 * step
        assert scheduler.tick() == (1 if step == 0 else 0)
    gate.set()  # the run ends at 10:00:25
    assert scheduler.wait_idle(5)
    clock.now = T0 + 30
    assert scheduler.tick() == 1
    assert scheduler.wait_idle(5)
    assert seen == {"active": 0, "most": 1, "runs": 2}
    assert app.schedule().state().overlap_lock(app.schedule().events[0]).acquire()  # released


def test_a_failing_run_is_recorded_and_the_scheduler_carries_on(caplog: pytest.LogCaptureFixture) -> None:
    app = array_app()

    def broken() -> None:
        raise ValueError("no rates today")

    app.schedule().call(broken).every_minute().name("broken")
    clock = FakeClock(T0 - 1)
    scheduler = Scheduler(app.schedule(), clock=clock, spawn=inline)
    scheduler.start()
    clock.now = T0
    with caplog.at_level(logging.ERROR, logger="freight.schedule"):
        assert scheduler.tick() == 1
    last = app.schedule().status(T0)[0]["last_run"]
    assert last["outcome"] == "failed" and last["detail"] == "ValueError: no rates today"
    assert "broken (due 2026-06-01T10:00:00+00:00) failed" in caplog.text
    clock.now = T0 + 60
    assert scheduler.tick() == 1


def test_a_store_that_cannot_be_reached_means_no_claim_and_no_run(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    app = array_app()
    app.schedule().call(recorder).every_minute().on_one_server().name("claimed")
    clock = FakeClock(T0 - 1)
    scheduler = Scheduler(app.schedule(), clock=clock, spawn=inline)
    scheduler.start()

    def down(*args: object) -> bool:
        raise CacheConnectionError("cache store 'array': connection refused")

    scheduler.state.claim = down  # type: ignore[method-assign]
    clock.now = T0
    assert scheduler.tick() == 0 and "claimed" not in recorder.dues
    assert "claimed due at" in caplog.text and "connection refused" in caplog.text


class Report(Job):
    queue = "reports"

    def handle(self) -> None:  # pragma: no cover - the worker is not run here
        pass


def test_a_job_event_dispatches_to_the_job_queue(tmp_path: Path) -> None:
    app = Application(
        {
            "cache": {"default": "array"},
            "queue": {"connections": {"database": {"url": f"sqlite:///{tmp_path}/q.sqlite3"}}},
        }
    )
    app.schedule().job(Report(day="monday")).every_minute()
    app.schedule().job(Report(day="tuesday"), queue="other").every_minute().name("other")
    clock = FakeClock(T0 - 1)
    scheduler = Scheduler(app.schedule(), clock=clock, spawn=inline)
    scheduler.start()
    clock.now = T0
    assert scheduler.tick() == 2
    queue = app.queue()
    assert queue.size("reports") == 1 and queue.size("other") == 1
    job = queue.pop("reports")
    assert job is not None and '"day":"monday"' in job.raw.replace(" ", "")
    rows = app.schedule().status(T0)
    assert rows[0]["name"] == "job tests.schedule.test_runner.Report" or rows[0]["name"].endswith(".Report")
    assert rows[0]["last_run"]["detail"].startswith("job ")
    app.close()


def test_a_command_event_runs_a_freight_command_in_a_child_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = Application({"cache": {"default": "array"}})
    app.schedule().command("cache:prune file").every_minute()
    app.schedule().command("cache:forget").every_minute()  # a missing argument: exits with 2
    clock = FakeClock(T0 - 1)
    scheduler = Scheduler(app.schedule(), clock=clock, spawn=inline)
    scheduler.start()
    clock.now = T0
    assert scheduler.tick() == 2
    prune, forget = (row["last_run"] for row in app.schedule().status(T0))
    assert prune["outcome"] == "ok" and prune["detail"] == "Pruned 0 expired entries from cache store 'file'."
    assert forget["outcome"] == "failed" and "'cache:forget' exited with status 2" in forget["detail"]


def test_an_expression_that_is_never_due_is_logged_and_the_others_run(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    app = array_app()
    app.schedule().call(recorder).cron("0 0 */20 * 1L").name("never")  # the 1st/21st that is a last Monday
    app.schedule().call(recorder).every_minute().name("minute")
    clock = FakeClock(T0 - 1)
    scheduler = Scheduler(app.schedule(), clock=clock, spawn=inline)
    with caplog.at_level(logging.ERROR, logger="freight.schedule"):
        scheduler.start()
    assert "never will not run again: cron expression '0 0 */20 * 1L' has no due time" in caplog.text
    clock.now = T0
    assert scheduler.tick() == 1 and recorder.dues == {"minute": [T0]}


def test_on_one_server_on_a_store_other_processes_do_not_share_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = array_app()
    app.schedule().call(print).hourly().on_one_server()
    with caplog.at_level(logging.WARNING, logger="freight.schedule"):
        Scheduler(app.schedule())
    assert "which other processes do not share: every scheduler will run them" in caplog.text


def test_warm_runs_the_registered_cache_warmers(caplog: pytest.LogCaptureFixture) -> None:
    app = array_app()
    calls = {"n": 0}

    @app.warmer("user_list", ttl=3600)
    def user_list() -> list[str]:
        calls["n"] += 1
        return ["ada", "grace"]

    @app.warmer("broken")
    def broken() -> None:
        raise OSError("the database is down")

    schedule = app.schedule()
    schedule.warm("user_list").hourly()
    schedule.warm("user_list", "broken").hourly().name("both")
    schedule.warm("nope").hourly()
    clock = FakeClock(T0 - 1)
    scheduler = Scheduler(schedule, clock=clock, spawn=inline)
    scheduler.start()
    clock.now = T0
    assert scheduler.tick() == 3
    assert app.cache().get("user_list") == ["ada", "grace"] and calls["n"] == 2
    ok, both, nope = (row["last_run"] for row in schedule.status(T0))
    assert ok["outcome"] == "ok"
    assert re.fullmatch(r"Warmed 1 of 1 warmer\(s\): 1 key\(s\) in [\d.]+ s\.", ok["detail"]), ok["detail"]
    assert both["outcome"] == "failed" and "broken: OSError: the database is down" in both["detail"]
    assert nope["outcome"] == "failed" and "unknown warmer(s) nope" in nope["detail"]
    assert [row["name"] for row in schedule.status(T0)] == ["warm user_list", "both", "warm nope"]


def test_a_slow_callable_does_not_delay_the_next_due_time(recorder: Recorder) -> None:
    app = array_app()
    gate = threading.Event()
    app.schedule().call(gate.wait, 10).every_ten_seconds().name("slow")
    app.schedule().call(recorder).every_ten_seconds().name("fast")
    clock = FakeClock(T0 - 1)
    scheduler = Scheduler(app.schedule(), clock=clock)  # each run on its own thread
    scheduler.start()
    for step in range(3):
        clock.now = T0 + 10 * step
        assert scheduler.tick() == 2  # slow runs pile up on their threads; the loop is not held
    assert not scheduler.wait_idle(0.1)
    assert len([run for run in scheduler.running() if run.event.label == "slow"]) == 3
    gate.set()
    assert scheduler.wait_idle(5)
    assert recorder.dues["fast"] == [T0, T0 + 10, T0 + 20]


def test_a_run_whose_thread_cannot_start_is_logged_and_frees_its_lock(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = array_app()
    event = app.schedule().call(print).every_minute().without_overlapping().name("p")

    def no_threads(fn: object, name: str) -> None:
        raise RuntimeError("can't start new thread")

    clock = FakeClock(T0 - 1)
    scheduler = Scheduler(app.schedule(), clock=clock, spawn=no_threads)
    scheduler.start()
    clock.now = T0
    assert scheduler.tick() == 0 and scheduler.running() == []
    assert "cannot start its thread: can't start new thread" in caplog.text
    assert app.schedule().state().overlap_lock(event).acquire()
