"""Turning the TTLs and delays users write into seconds."""

from __future__ import annotations

import datetime as dt

from freight.errors import ConfigurationError

__all__ = ["Duration", "lock_seconds", "seconds_from"]

#: a TTL or delay: seconds, a ``timedelta``, or an absolute ``datetime``
Duration = int | float | dt.timedelta | dt.datetime


def lock_seconds(value: object, what: str = "a lock's seconds") -> float:
    """``value`` as a lock TTL: finite and not negative (0: no expiry); :class:`ConfigurationError`
    otherwise (a negative TTL let two owners hold one lock on some stores)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not 0 <= float(value) < float("inf"):  # type: ignore[arg-type]
        raise ConfigurationError(f"{what} must be finite, non-negative seconds (0: no expiry), got {value!r}")
    return float(value)  # type: ignore[arg-type]


def seconds_from(value: Duration, now: float) -> float:
    """Seconds from ``now`` (a Unix timestamp) that ``value`` stands for; may be <= 0.

    A naive ``datetime`` is taken as local time, as ``datetime.timestamp()`` does.
    """
    if isinstance(value, bool):
        raise ConfigurationError("a TTL or delay must be a number, timedelta or datetime, not bool")
    if isinstance(value, int | float):
        seconds = float(value)
        if seconds - seconds != 0.0:  # NaN or infinite
            raise ConfigurationError(
                f"a TTL or delay must be a finite number of seconds (None means forever), got {value!r}"
            )
        return seconds
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, dt.datetime):
        return value.timestamp() - now
    raise ConfigurationError(
        f"a TTL or delay must be a number, timedelta or datetime, not {type(value).__name__}"
    )
