"""Turning the TTLs and delays users write into seconds."""

from __future__ import annotations

import datetime as dt

from freight.errors import ConfigurationError

__all__ = ["Duration", "seconds_from"]

#: a TTL or delay: seconds, a ``timedelta``, or an absolute ``datetime``
Duration = int | float | dt.timedelta | dt.datetime


def seconds_from(value: Duration, now: float) -> float:
    """Seconds from ``now`` (a Unix timestamp) that ``value`` stands for; may be <= 0.

    A naive ``datetime`` is taken as local time, as ``datetime.timestamp()`` does.
    """
    if isinstance(value, bool):
        raise ConfigurationError("a TTL or delay must be a number, timedelta or datetime, not bool")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, dt.datetime):
        return value.timestamp() - now
    raise ConfigurationError(
        f"a TTL or delay must be a number, timedelta or datetime, not {type(value).__name__}"
    )
