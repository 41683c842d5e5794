"""The fluent frequency helpers of a scheduled event (Laravel's names, in snake_case).

Each helper rewrites one or more fields of the event's cron expression, so they combine:
``daily_at("13:00").weekdays()`` is ``0 13 * * 1-5``. The sub-minute helpers add a
seconds field (``every_ten_seconds()`` is ``*/10 * * * * *``). :meth:`between`,
:meth:`when` and :meth:`skip` are filters checked when the event is due.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Self

from freight.errors import ConfigurationError
from freight.schedule.cron import Cron, zone

__all__ = ["Frequencies", "parse_time"]

_SECOND, _MINUTE, _HOUR, _DAY, _MONTH, _WEEKDAY = range(6)


def parse_time(text: str) -> tuple[int, int]:
    """``"13:05"`` (or ``"8"``) as ``(13, 5)``; :class:`ConfigurationError` if it is not a time."""
    hour, _, minute = str(text).partition(":")
    try:
        h, m = int(hour), int(minute or 0)
    except ValueError:
        h = m = -1
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ConfigurationError(f"{text!r} is not a time of day: write 'HH:MM', such as '13:00'")
    return h, m


def _spec(values: int | str | tuple[int, ...] | list[int]) -> str:
    if isinstance(values, tuple | list):
        return ",".join(str(v) for v in values)
    return str(values)


class Frequencies:
    """Mixin: a cron expression (six fields, seconds first; seconds None for minute resolution),
    a time zone and filters."""

    def __init__(self, tz: dt.tzinfo = dt.UTC) -> None:
        self._fields: list[str | None] = [None, "*", "*", "*", "*", "*"]
        self._tz: dt.tzinfo = tz
        self._filters: list[Callable[[float], bool]] = []
        self._cron: Cron | None = None

    # -- the expression ---------------------------------------------------------------------
    @property
    def expression(self) -> str:
        """The cron expression (five fields, or six with seconds first)."""
        return " ".join(f for f in self._fields if f is not None)

    @property
    def tz(self) -> dt.tzinfo:
        """The time zone the expression is evaluated in."""
        return self._tz

    @property
    def parsed(self) -> Cron:
        """The parsed expression (validated on first use)."""
        if self._cron is None:
            self._cron = Cron(self.expression, self._tz)
        return self._cron

    def _set(self, **fields: int | str | tuple[int, ...] | list[int] | None) -> Self:
        names = {"second": _SECOND, "minute": _MINUTE, "hour": _HOUR, "day": _DAY}
        names.update(month=_MONTH, weekday=_WEEKDAY)
        for name, value in fields.items():
            self._fields[names[name]] = None if value is None else _spec(value)
        self._cron = None
        return self

    def cron(self, expression: str) -> Self:
        """Use a cron expression (five fields, or six with seconds first)."""
        parts = expression.split()
        if len(parts) not in (5, 6):
            raise ConfigurationError(
                f"invalid cron expression {expression!r}: five fields 'minute hour day month weekday', "
                "or six with seconds first"
            )
        self._fields = [None, *parts] if len(parts) == 5 else list(parts)
        self._cron = None
        Cron(self.expression, self._tz)  # validate now, where the user wrote it
        return self

    def timezone(self, tz: str | dt.tzinfo) -> Self:
        """Evaluate the expression in ``tz`` (an IANA name such as ``"Europe/Berlin"``)."""
        self._tz = zone(tz)
        self._cron = None
        return self

    # -- sub-minute -------------------------------------------------------------------------
    def _every_seconds(self, n: int) -> Self:
        return self._set(second="*" if n == 1 else f"*/{n}", minute="*", hour="*")

    def every_second(self) -> Self:
        """Every second."""
        return self._every_seconds(1)

    def every_two_seconds(self) -> Self:
        """Every 2 seconds."""
        return self._every_seconds(2)

    def every_five_seconds(self) -> Self:
        """Every 5 seconds."""
        return self._every_seconds(5)

    def every_ten_seconds(self) -> Self:
        """Every 10 seconds."""
        return self._every_seconds(10)

    def every_fifteen_seconds(self) -> Self:
        """Every 15 seconds."""
        return self._every_seconds(15)

    def every_twenty_seconds(self) -> Self:
        """Every 20 seconds."""
        return self._every_seconds(20)

    def every_thirty_seconds(self) -> Self:
        """Every 30 seconds."""
        return self._every_seconds(30)

    # -- minutes and hours ------------------------------------------------------------------
    def _every_minutes(self, n: int) -> Self:
        return self._set(second=None, minute="*" if n == 1 else f"*/{n}", hour="*")

    def every_minute(self) -> Self:
        """Every minute."""
        return self._every_minutes(1)

    def every_two_minutes(self) -> Self:
        """Every 2 minutes."""
        return self._every_minutes(2)

    def every_three_minutes(self) -> Self:
        """Every 3 minutes."""
        return self._every_minutes(3)

    def every_four_minutes(self) -> Self:
        """Every 4 minutes."""
        return self._every_minutes(4)

    def every_five_minutes(self) -> Self:
        """Every 5 minutes."""
        return self._every_minutes(5)

    def every_ten_minutes(self) -> Self:
        """Every 10 minutes."""
        return self._every_minutes(10)

    def every_fifteen_minutes(self) -> Self:
        """Every 15 minutes."""
        return self._every_minutes(15)

    def every_thirty_minutes(self) -> Self:
        """Every 30 minutes."""
        return self._every_minutes(30)

    def hourly(self) -> Self:
        """At minute 0 of every hour."""
        return self.hourly_at(0)

    def hourly_at(self, minutes: int | list[int]) -> Self:
        """At the given minute(s) of every hour."""
        return self._set(second=None, minute=minutes, hour="*")

    def every_odd_hour(self, minutes: int = 0) -> Self:
        """At ``minutes`` past every odd hour."""
        return self._set(second=None, minute=minutes, hour="1-23/2")

    def every_two_hours(self, minutes: int = 0) -> Self:
        """At ``minutes`` past every 2nd hour."""
        return self._set(second=None, minute=minutes, hour="*/2")

    def every_three_hours(self, minutes: int = 0) -> Self:
        """At ``minutes`` past every 3rd hour."""
        return self._set(second=None, minute=minutes, hour="*/3")

    def every_four_hours(self, minutes: int = 0) -> Self:
        """At ``minutes`` past every 4th hour."""
        return self._set(second=None, minute=minutes, hour="*/4")

    def every_six_hours(self, minutes: int = 0) -> Self:
        """At ``minutes`` past every 6th hour."""
        return self._set(second=None, minute=minutes, hour="*/6")

    # -- days -------------------------------------------------------------------------------
    def daily(self) -> Self:
        """At midnight every day."""
        return self._set(second=None, minute=0, hour=0)

    def daily_at(self, time: str) -> Self:
        """Every day at ``time`` (``"HH:MM"``)."""
        hour, minute = parse_time(time)
        return self._set(second=None, minute=minute, hour=hour)

    at = daily_at

    def twice_daily(self, first: int = 1, second: int = 13) -> Self:
        """At ``first``:00 and ``second``:00 every day."""
        return self.twice_daily_at(first, second, 0)

    def twice_daily_at(self, first: int = 1, second: int = 13, minute: int = 0) -> Self:
        """At ``first``:``minute`` and ``second``:``minute`` every day."""
        return self._set(second=None, minute=minute, hour=(first, second))

    def weekly(self) -> Self:
        """At midnight every Sunday."""
        return self._set(second=None, minute=0, hour=0, weekday=0)

    def weekly_on(self, days: int | list[int], time: str = "0:00") -> Self:
        """On weekday(s) ``days`` (0 or 7 Sunday, 1 Monday ...) at ``time``."""
        return self.daily_at(time)._set(weekday=days)

    def monthly(self) -> Self:
        """At midnight on the first of every month."""
        return self._set(second=None, minute=0, hour=0, day=1)

    def monthly_on(self, day: int = 1, time: str = "0:00") -> Self:
        """On ``day`` of every month at ``time``."""
        return self.daily_at(time)._set(day=day)

    def twice_monthly(self, first: int = 1, second: int = 16, time: str = "0:00") -> Self:
        """On days ``first`` and ``second`` of every month at ``time``."""
        return self.daily_at(time)._set(day=(first, second))

    def last_day_of_month(self, time: str = "0:00") -> Self:
        """On the last day of every month at ``time``."""
        return self.daily_at(time)._set(day="L")

    def quarterly(self) -> Self:
        """At midnight on the first day of every quarter."""
        return self.quarterly_on(1)

    def quarterly_on(self, day: int = 1, time: str = "0:00") -> Self:
        """On ``day`` of the first month of every quarter at ``time``."""
        return self.daily_at(time)._set(day=day, month="1-12/3")

    def yearly(self) -> Self:
        """At midnight on January 1st."""
        return self.yearly_on(1, 1)

    def yearly_on(self, month: int = 1, day: int = 1, time: str = "0:00") -> Self:
        """On ``month``/``day`` every year at ``time``."""
        return self.daily_at(time)._set(day=day, month=month)

    def days(self, *days: int) -> Self:
        """Only on these weekdays (0 or 7 Sunday, 1 Monday ... 6 Saturday)."""
        return self._set(weekday=list(days))

    def weekdays(self) -> Self:
        """Monday to Friday only."""
        return self._set(weekday="1-5")

    def weekends(self) -> Self:
        """Saturday and Sunday only."""
        return self._set(weekday="0,6")

    def mondays(self) -> Self:
        """Mondays only."""
        return self.days(1)

    def tuesdays(self) -> Self:
        """Tuesdays only."""
        return self.days(2)

    def wednesdays(self) -> Self:
        """Wednesdays only."""
        return self.days(3)

    def thursdays(self) -> Self:
        """Thursdays only."""
        return self.days(4)

    def fridays(self) -> Self:
        """Fridays only."""
        return self.days(5)

    def saturdays(self) -> Self:
        """Saturdays only."""
        return self.days(6)

    def sundays(self) -> Self:
        """Sundays only."""
        return self.days(0)

    # -- filters ----------------------------------------------------------------------------
    def between(self, start: str, end: str) -> Self:
        """Only when the due time's wall clock is within ``start``..``end`` (may span midnight)."""
        inside = self._window(start, end)
        self._filters.append(inside)
        return self

    def unless_between(self, start: str, end: str) -> Self:
        """Not when the due time's wall clock is within ``start``..``end``."""
        inside = self._window(start, end)
        self._filters.append(lambda due: not inside(due))
        return self

    def _window(self, start: str, end: str) -> Callable[[float], bool]:
        lo, hi = parse_time(start), parse_time(end)

        def inside(due: float) -> bool:
            local = dt.datetime.fromtimestamp(due, self._tz)
            now = (local.hour, local.minute)
            return lo <= now <= hi if lo <= hi else now >= lo or now <= hi

        return inside

    def when(self, condition: Callable[[], bool] | bool) -> Self:
        """Only when ``condition()`` is true at the due time."""
        self._filters.append(lambda due: bool(condition() if callable(condition) else condition))
        return self

    def skip(self, condition: Callable[[], bool] | bool) -> Self:
        """Not when ``condition()`` is true at the due time."""
        self._filters.append(lambda due: not (condition() if callable(condition) else condition))
        return self

    def filters_pass(self, due: float) -> bool:
        """True when every filter lets the run due at ``due`` go ahead."""
        return all(check(due) for check in self._filters)
