"""Names and shapes of the recorded series: per-minute buckets, fixed histogram bounds, percentiles.

A series is a string of ``|``-separated parts (each part escaped so it cannot contain
``|``): ``job|<connection>|<queue>|<job class>|<metric>``, ``backlog|<connection>|<queue>``,
``cache|<store>|<key group>|<metric>`` (``*`` is the whole store) and ``meta|<metric>``.
Every metric is an integer: counts, histogram bucket counts and sums in microseconds.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "BOUNDS",
    "JOB_COUNTS",
    "CACHE_COUNTS",
    "TOTAL",
    "decode",
    "encode",
    "histogram_slot",
    "minute_of",
    "percentile",
]

#: the minute number that holds all-time totals (every other bucket is ``int(time // 60)``)
TOTAL = 0
#: histogram bucket upper bounds in seconds (Prometheus style ``le``); the last bucket is +Inf
BOUNDS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
)
#: job counters, in the order a recorder keeps them
JOB_COUNTS = ("processed", "failed", "retried")
#: cache counters per store and key group
CACHE_COUNTS = (
    "hits",
    "misses",
    "writes",
    "deletes",
    "lock_waits",
    "tag_flushes",
    "flight_waits",
    "refreshes",
)


def minute_of(timestamp: float) -> int:
    """The per-minute bucket a Unix time falls in."""
    return int(timestamp // 60)


def histogram_slot(seconds: float) -> int:
    """Index of the bucket of ``seconds`` (``len(BOUNDS)`` is the +Inf bucket)."""
    return bisect_left(BOUNDS, seconds)


def _escape(part: str) -> str:
    return part.replace("%", "%25").replace("|", "%7C") if ("|" in part or "%" in part) else part


def _unescape(part: str) -> str:
    return part.replace("%7C", "|").replace("%25", "%") if "%" in part else part


def encode(parts: Iterable[str]) -> str:
    """One series name from its parts."""
    return "|".join(_escape(p) for p in parts)


def decode(series: str) -> list[str]:
    """The parts of a series name."""
    return [_unescape(p) for p in series.split("|")]


def percentile(counts: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a histogram given its per-bucket counts, interpolated
    linearly inside the bucket it falls in; None when the histogram is empty."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            low = BOUNDS[index - 1] if index > 0 else 0.0
            high = BOUNDS[index] if index < len(BOUNDS) else BOUNDS[-1] * 2
            return low + (high - low) * max(0.0, rank - seen) / count
        seen += count
    return BOUNDS[-1] * 2


def histogram_counts(values: Mapping[str, int], prefix: str) -> list[int]:
    """Per-bucket counts of the histogram whose fields are ``<prefix>_b<index>``."""
    return [int(values.get(f"{prefix}_b{i}", 0)) for i in range(len(BOUNDS) + 1)]
