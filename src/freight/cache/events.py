"""Typed cache events, delivered to listeners registered with ``CacheManager.listen()``.

Every event names the store it happened on; key events also name the key. Events
are only built when at least one listener is registered, so an application that
does not listen pays nothing for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CacheEvent",
    "CacheFailedOver",
    "CacheFlushed",
    "CacheHit",
    "CacheMissed",
    "KeyEvent",
    "KeyForgotten",
    "KeyIncremented",
    "KeyWritten",
    "Listener",
    "LockWaited",
    "SingleFlightWaited",
    "TagsFlushed",
    "ValueRefreshed",
]


@dataclass(frozen=True, slots=True)
class CacheEvent:
    """Something happened on the store named ``store``."""

    store: str


@dataclass(frozen=True, slots=True)
class KeyEvent(CacheEvent):
    """Something happened to ``key`` on ``store``."""

    key: str


@dataclass(frozen=True, slots=True)
class CacheHit(KeyEvent):
    """A read found ``key``; ``value`` is what it decoded to."""

    value: Any


@dataclass(frozen=True, slots=True)
class CacheMissed(KeyEvent):
    """A read did not find ``key`` (absent, expired, unreadable or tampered with)."""


@dataclass(frozen=True, slots=True)
class KeyWritten(KeyEvent):
    """``value`` was stored under ``key`` for ``seconds`` (None: forever)."""

    value: Any
    seconds: float | None


@dataclass(frozen=True, slots=True)
class KeyIncremented(KeyEvent):
    """``key`` was incremented by ``by`` (negative for a decrement) and now holds ``value``."""

    by: int
    value: int


@dataclass(frozen=True, slots=True)
class KeyForgotten(KeyEvent):
    """``key`` was removed; ``existed`` tells whether there was an entry to remove."""

    existed: bool


@dataclass(frozen=True, slots=True)
class CacheFlushed(CacheEvent):
    """Every entry of ``store`` was removed."""


@dataclass(frozen=True, slots=True)
class CacheFailedOver(CacheEvent):
    """The failover ``store`` could not reach ``failed`` and moved on to the next store."""

    failed: str
    error: str


@dataclass(frozen=True, slots=True)
class TagsFlushed(CacheEvent):
    """Every entry tagged with one of ``tags`` became a miss; ``deleted`` member keys were removed."""

    tags: tuple[str, ...]
    deleted: int


@dataclass(frozen=True, slots=True)
class SingleFlightWaited(KeyEvent):
    """A ``remember`` in this process waited ``seconds`` for another thread computing ``key``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class LockWaited(KeyEvent):
    """A ``remember`` waited ``seconds`` while another process computed ``key``; ``computed`` when
    it gave up (``lock_wait`` passed, or the computer died) and computed the value itself."""

    seconds: float
    computed: bool


@dataclass(frozen=True, slots=True)
class ValueRefreshed(KeyEvent):
    """``flexible`` (or ``beta``) recomputed ``key`` ahead of its expiry, in ``seconds``."""

    seconds: float


#: a callable receiving every event
Listener = Callable[[CacheEvent], None]
