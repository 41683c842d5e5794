"""Cron expressions, parsed and evaluated by cronsim (Debian cron's rules, DST included).

An expression has five fields (minute hour day-of-month month day-of-week) or six, the
first being seconds. Due times are whole Unix seconds. The DST rules are Debian cron's:

* an expression whose minute and hour are both fixed (``30 2 * * *``) names wall-clock
  times: a time inside a spring-forward gap fires once, at the first wall time after the
  gap (02:30 becomes 03:00); a time inside a fall-back repeated hour fires once, on its
  first (summer-time) occurrence;
* any other expression (``* * * * *``, ``17 * * * *``, ``*/10 * * * * *``) follows real
  time: wall times in a gap do not occur, those in a repeated hour occur twice.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from freight.errors import ConfigurationError, MissingDependencyError

try:
    from cronsim import CronSim, CronSimError
except ImportError:  # pragma: no cover - exercised only without the extra
    CronSim = None  # type: ignore[assignment,misc]
    CronSimError = ValueError  # type: ignore[assignment,misc]

__all__ = ["Cron", "zone"]

#: how many consecutive results may fall at or before the start (a fall-back repeated hour
#: yields its first occurrence again); more means the expression never fires
_MAX_STALE = 10_000


def zone(name: str | dt.tzinfo) -> dt.tzinfo:
    """The time zone called ``name`` (an IANA name such as ``"Europe/Berlin"``), or ``name``."""
    if isinstance(name, dt.tzinfo):
        return name
    if name.upper() == "UTC":
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from exc


class Cron:
    """One validated cron expression evaluated in one time zone."""

    def __init__(self, expression: str, tz: dt.tzinfo = dt.UTC) -> None:
        if CronSim is None:
            raise MissingDependencyError("cronsim", "schedule")
        self.expression = " ".join(expression.split())
        self.tz = tz
        try:
            CronSim(self.expression, dt.datetime(2000, 1, 1, tzinfo=tz))
        except CronSimError as exc:
            raise ConfigurationError(
                f"invalid cron expression {expression!r}: {exc} (five fields 'minute hour day month "
                "weekday', or six with seconds first)"
            ) from exc

    @property
    def has_seconds(self) -> bool:
        """True for a six-field expression (its first field is seconds)."""
        return len(self.expression.split()) == 6

    def next_after(self, when: float) -> int:
        """The first due time strictly after the Unix time ``when``."""
        start = dt.datetime.fromtimestamp(when, self.tz)
        it = CronSim(self.expression, start)
        try:
            for _ in range(_MAX_STALE):
                due = int(next(it).timestamp())
                if due > when:  # cronsim may return a wall time already passed in a repeated hour
                    return due
        except StopIteration:  # cronsim looks 50 years ahead
            pass
        raise ConfigurationError(f"cron expression {self.expression!r} has no due time after {start}")

    def local(self, when: float) -> dt.datetime:
        """The Unix time ``when`` as an aware datetime in this expression's time zone."""
        return dt.datetime.fromtimestamp(when, self.tz)

    def __repr__(self) -> str:
        return f"<Cron {self.expression!r} {self.tz}>"
