"""Backoff policies as pure functions: the attempt that just failed -> seconds before the next.

A policy is one of:

* ``None``: the default, exponential with jitter (about 1, 2, 4, 8 ... seconds, capped
  at 10 minutes);
* a number: the same delay after every attempt;
* a sequence: ``policy[attempt - 1]``, the last value repeating (``[1, 5, 30]`` waits
  1 s after the first attempt, 5 s after the second and 30 s after every later one);
* a callable ``policy(attempt) -> seconds``.

Attempts are numbered from 1. Randomness comes from an injectable ``rand`` returning
floats in ``[0, 1)``, so tests are deterministic.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from freight.errors import ConfigurationError

__all__ = [
    "DEFAULT_BASE",
    "DEFAULT_CAP",
    "MAX_DELAY",
    "BackoffPolicy",
    "bounded",
    "delay_for",
    "exponential",
    "from_sequence",
    "parse",
    "validate",
]

#: the first delay of the default policy, in seconds
DEFAULT_BASE = 1.0
#: the longest delay of the default policy, in seconds (10 minutes)
DEFAULT_CAP = 600.0
#: the longest delay any policy may ask for, in seconds (30 days): a job never parks forever
MAX_DELAY = 30 * 86400.0

BackoffPolicy = int | float | Sequence[float] | Callable[[int], float] | None


def exponential(
    attempt: int,
    *,
    base: float = DEFAULT_BASE,
    cap: float = DEFAULT_CAP,
    jitter: bool = True,
    rand: Callable[[], float] = random.random,
) -> float:
    """``base * 2 ** (attempt - 1)`` capped at ``cap``, times a jitter factor in ``[0.5, 1.5)``."""
    delay = min(cap, base * 2.0 ** min(max(attempt, 1) - 1, 64))
    if jitter:
        delay *= 0.5 + rand()
    return min(cap, delay)


def from_sequence(delays: Sequence[float], attempt: int) -> float:
    """``delays[attempt - 1]``, the last value repeating; 0 for an empty sequence."""
    if not delays:
        return 0.0
    return float(delays[min(max(attempt, 1), len(delays)) - 1])


def delay_for(policy: BackoffPolicy, attempt: int, *, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after ``attempt`` failed, under ``policy`` (from 0 to :data:`MAX_DELAY`)."""
    if policy is None:
        return exponential(attempt, rand=rand)
    if isinstance(policy, bool):
        raise ConfigurationError("backoff must be a number, a list of numbers or a callable, not bool")
    if isinstance(policy, int | float):
        return bounded(float(policy))
    if callable(policy):
        return bounded(float(policy(attempt)))
    if isinstance(policy, Sequence) and not isinstance(policy, str | bytes):
        return bounded(from_sequence(policy, attempt))
    raise ConfigurationError(
        f"backoff must be a number, a list of numbers or a callable, not {type(policy).__name__}"
    )


def bounded(delay: float) -> float:
    """``delay`` clamped to ``[0, MAX_DELAY]`` (NaN counts as 0)."""
    return min(MAX_DELAY, delay) if delay > 0 else 0.0


def validate(policy: object, where: str = "backoff") -> None:
    """Raise :class:`ConfigurationError` unless ``policy`` is a valid backoff policy."""
    if policy is None or callable(policy):
        return
    numbers = policy if isinstance(policy, list | tuple) else [policy]
    for value in numbers:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_DELAY:
            raise ConfigurationError(
                f"{where} must be seconds from 0 to {MAX_DELAY:g} (30 days), a list of them or a "
                f"callable; got {policy!r}"
            )


def parse(text: str) -> BackoffPolicy:
    """The policy a command-line value stands for: ``"5"`` -> 5.0, ``"1,5,30"`` -> ``[1.0, 5.0, 30.0]``."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        return None
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ConfigurationError(
            f"--backoff must be seconds or a comma-separated list of them, got {text!r}"
        ) from None
    validate(values, "--backoff")
    return values[0] if len(values) == 1 else values
