"""The fluent helpers write the cron expressions a Laravel user expects; bad input is refused."""

from __future__ import annotations

import datetime as dt

import pytest
from schedkit import array_app

from freight.errors import ConfigurationError
from freight.schedule import CallEvent


def event() -> CallEvent:
    return array_app().schedule().call(print)


@pytest.mark.parametrize(
    ("build", "expression"),
    [
        (lambda e: e.every_second(), "* * * * * *"),
        (lambda e: e.every_two_seconds(), "*/2 * * * * *"),
        (lambda e: e.every_five_seconds(), "*/5 * * * * *"),
        (lambda e: e.every_ten_seconds(), "*/10 * * * * *"),
        (lambda e: e.every_fifteen_seconds(), "*/15 * * * * *"),
        (lambda e: e.every_twenty_seconds(), "*/20 * * * * *"),
        (lambda e: e.every_thirty_seconds(), "*/30 * * * * *"),
        (lambda e: e.every_minute(), "* * * * *"),
        (lambda e: e.every_two_minutes(), "*/2 * * * *"),
        (lambda e: e.every_three_minutes(), "*/3 * * * *"),
        (lambda e: e.every_four_minutes(), "*/4 * * * *"),
        (lambda e: e.every_five_minutes(), "*/5 * * * *"),
        (lambda e: e.every_ten_minutes(), "*/10 * * * *"),
        (lambda e: e.every_fifteen_minutes(), "*/15 * * * *"),
        (lambda e: e.every_thirty_minutes(), "*/30 * * * *"),
        (lambda e: e.hourly(), "0 * * * *"),
        (lambda e: e.hourly_at(17), "17 * * * *"),
        (lambda e: e.hourly_at([0, 30]), "0,30 * * * *"),
        (lambda e: e.every_odd_hour(), "0 1-23/2 * * *"),
        (lambda e: e.every_two_hours(5), "5 */2 * * *"),
        (lambda e: e.every_three_hours(), "0 */3 * * *"),
        (lambda e: e.every_four_hours(), "0 */4 * * *"),
        (lambda e: e.every_six_hours(), "0 */6 * * *"),
        (lambda e: e.daily(), "0 0 * * *"),
        (lambda e: e.daily_at("13:00"), "0 13 * * *"),
        (lambda e: e.daily_at("8:05"), "5 8 * * *"),
        (lambda e: e.at("7"), "0 7 * * *"),
        (lambda e: e.twice_daily(1, 13), "0 1,13 * * *"),
        (lambda e: e.twice_daily_at(1, 13, 15), "15 1,13 * * *"),
        (lambda e: e.weekly(), "0 0 * * 0"),
        (lambda e: e.weekly_on(1, "8:00"), "0 8 * * 1"),
        (lambda e: e.monthly(), "0 0 1 * *"),
        (lambda e: e.monthly_on(4, "15:00"), "0 15 4 * *"),
        (lambda e: e.twice_monthly(1, 16, "13:00"), "0 13 1,16 * *"),
        (lambda e: e.last_day_of_month("15:00"), "0 15 L * *"),
        (lambda e: e.quarterly(), "0 0 1 1-12/3 *"),
        (lambda e: e.yearly(), "0 0 1 1 *"),
        (lambda e: e.yearly_on(6, 1, "17:00"), "0 17 1 6 *"),
        (lambda e: e.daily_at("13:00").weekdays(), "0 13 * * 1-5"),
        (lambda e: e.hourly().weekends(), "0 * * * 0,6"),
        (lambda e: e.daily().mondays(), "0 0 * * 1"),
        (lambda e: e.daily().sundays(), "0 0 * * 0"),
        (lambda e: e.daily().days(1, 3, 5), "0 0 * * 1,3,5"),
        (lambda e: e.every_second().daily_at("02:00"), "0 2 * * *"),
        (lambda e: e.cron("*/15 9-17 * * 1-5"), "*/15 9-17 * * 1-5"),
        (lambda e: e.cron("*/10 * * * * *"), "*/10 * * * * *"),
    ],
)
def test_helpers_write_cron_expressions(build: object, expression: str) -> None:
    e = build(event())  # type: ignore[operator]
    assert e.expression == expression
    e.parsed.next_after(0)  # cronsim accepts it


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda e: e.cron("61 * * * *"), "invalid cron expression"),
        (lambda e: e.cron("* * *"), "five fields"),
        (lambda e: e.daily_at("25:00"), "is not a time of day"),
        (lambda e: e.daily_at("noon"), "is not a time of day"),
        (lambda e: e.between("8:00", "x"), "is not a time of day"),
        (lambda e: e.timezone("Mars/Olympus"), "unknown time zone"),
        (lambda e: e.without_overlapping(0), "positive number"),
        (lambda e: e.name(""), "non-empty"),
    ],
)
def test_bad_frequencies_are_refused_where_they_are_written(build: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        build(event())  # type: ignore[operator]


def test_between_and_unless_between_filter_on_the_local_wall_clock() -> None:
    berlin = "Europe/Berlin"
    day = event().every_minute().timezone(berlin).between("8:00", "17:00")
    night = event().every_minute().timezone(berlin).between("22:00", "6:00")
    not_lunch = event().every_minute().timezone(berlin).unless_between("12:00", "13:00")

    def at(hour: int, minute: int = 0) -> float:
        return dt.datetime(2026, 6, 1, hour, minute, tzinfo=day.tz).timestamp()

    assert day.filters_pass(at(8)) and day.filters_pass(at(17)) and not day.filters_pass(at(17, 1))
    assert not day.filters_pass(at(7, 59)) and day.filters_pass(at(12))
    assert night.filters_pass(at(23)) and night.filters_pass(at(5)) and not night.filters_pass(at(12))
    assert not not_lunch.filters_pass(at(12, 30)) and not_lunch.filters_pass(at(14))


def test_when_and_skip_are_asked_at_the_due_time() -> None:
    flags = {"on": False}
    e = event().every_minute().when(lambda: flags["on"]).skip(lambda: False)
    assert not e.filters_pass(0)
    flags["on"] = True
    assert e.filters_pass(0)
    assert not event().skip(True).filters_pass(0) and event().when(True).filters_pass(0)


def test_the_schedule_timezone_is_the_default_of_its_events() -> None:
    app = array_app(timezone="America/New_York")
    e = app.schedule().call(print).daily()
    assert str(e.tz) == "America/New_York"
    assert str(e.timezone("UTC").tz) == "UTC"


def test_events_sharing_an_identity_must_be_named() -> None:
    schedule = array_app().schedule()
    schedule.call(print).daily()
    schedule.call(print).daily()
    with pytest.raises(ConfigurationError, match="give one a name"):
        schedule.checked_events()
    schedule.events[1].name("second print")
    assert len(schedule.checked_events()) == 2
