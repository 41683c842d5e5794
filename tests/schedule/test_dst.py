"""24 simulated hours across both DST transitions in Europe/Berlin and America/New_York.

The clock is injected: the scheduler sleeps by moving it, so a day takes milliseconds.
Expected counts follow the rules in docs/scheduling.md: a fixed-time event (``daily_at``,
``15 1-3 * * *``) runs once on a spring-forward day even when its time falls in the gap
(at the first minute after it) and once on a fall-back day; events with a wildcard
minute or hour (``every_minute``, ``hourly_at``) follow real time.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from schedkit import FakeClock, Recorder, array_app, inline, simulate

from freight import Application
from freight.schedule import Scheduler

# zone, the transition day, the wall time inside its gap or repeated hour, kind of day
TRANSITIONS = [
    ("Europe/Berlin", dt.date(2026, 3, 29), "02:30", "spring"),
    ("Europe/Berlin", dt.date(2026, 10, 25), "02:30", "fall"),
    ("America/New_York", dt.date(2026, 3, 8), "02:30", "spring"),
    ("America/New_York", dt.date(2026, 11, 1), "01:30", "fall"),
]


def midnight(day: dt.date, tz: ZoneInfo) -> float:
    return dt.datetime.combine(day, dt.time(0), tz).timestamp()


def schedule_day(zone: str, at: str, recorder: Recorder) -> Application:
    app = array_app()
    schedule = app.schedule()
    schedule.call(recorder).every_minute().timezone(zone).name("minute")
    schedule.call(recorder).hourly_at(17).timezone(zone).name("hourly_at")
    schedule.call(recorder).daily_at(at).timezone(zone).name("daily_at")
    schedule.call(recorder).cron("15 1-3 * * *").timezone(zone).name("cron").on_one_server()
    return app


@pytest.mark.parametrize(("zone", "day", "at", "kind"), TRANSITIONS, ids=lambda v: str(v))
@pytest.mark.parametrize("max_wait", [3600.0, 7.0], ids=["wake-at-due", "wake-every-7s"])
def test_a_day_across_a_dst_transition_fires_the_documented_counts(
    zone: str, day: dt.date, at: str, kind: str, max_wait: float, recorder: Recorder
) -> None:
    tz = ZoneInfo(zone)
    start, end = midnight(day, tz), midnight(day + dt.timedelta(days=1), tz)
    hours = round((end - start) / 3600)
    assert hours == (23 if kind == "spring" else 25)
    app = schedule_day(zone, at, recorder)
    simulate(app, start - 1, end + 86400 + 60, max_wait=max_wait)

    # 24 real hours from local midnight: every real minute and hour once
    assert recorder.count("minute", start, start + 86400) == 1440
    assert recorder.count("hourly_at", start, start + 86400) == 24
    # the local calendar day: it has 23 or 25 real hours
    assert recorder.count("minute", start - 60, end - 60) == hours * 60
    assert recorder.count("hourly_at", start, end) == hours
    # fixed wall times: once each, never twice, never skipped
    daily = [d for d in recorder.dues["daily_at"] if start <= d < end]
    assert len(daily) == 1
    local = dt.datetime.fromtimestamp(daily[0], tz)
    if kind == "spring":  # 02:30 does not exist: the first minute after the gap
        assert local.strftime("%H:%M") == "03:00"
    else:  # the first of the two 01:30/02:30s (summer time)
        assert local.strftime("%H:%M") == at and local.dst()
    cron = [
        dt.datetime.fromtimestamp(d, tz).strftime("%H:%M") for d in recorder.dues["cron"] if start <= d < end
    ]
    if kind == "spring":
        assert cron == ["01:15", "03:00", "03:15"]
    else:
        assert cron == ["01:15", "02:15", "03:15"]
    # the next day is an ordinary day
    assert recorder.count("daily_at", end, end + 86400) == 1
    assert recorder.count("minute", end, end + 86400) == 1440
    # no due time ever ran twice
    for dues in recorder.dues.values():
        assert len(dues) == len(set(dues))


def test_two_schedulers_on_one_store_fire_a_shared_event_once(recorder: Recorder) -> None:
    app = array_app()
    app.schedule().call(recorder).every_ten_seconds().on_one_server().name("shared")
    app.schedule().call(recorder).every_minute().name("everywhere")
    clock = FakeClock(1_800_000_000)
    a = Scheduler(app.schedule(), clock=clock, spawn=inline)
    b = Scheduler(app.schedule(), clock=clock, spawn=inline)
    a.start()
    b.start()
    for _ in range(3600):
        clock.now += 1
        (a if clock.now % 2 else b).tick()
        (b if clock.now % 2 else a).tick()
    assert recorder.count("shared") == 360 == len(set(recorder.dues["shared"]))
    assert recorder.count("everywhere") == 120  # not on_one_server: both schedulers run it
