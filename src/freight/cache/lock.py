"""Atomic cache locks: owner tokens, blocking with a deadline, and a context manager.

Each store implements five primitives (``acquire``, ``release``, ``force_release``,
``current_owner`` and ``refresh``) atomically on its backend; everything else is
derived here once.
"""

from __future__ import annotations

import asyncio
import inspect
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

from freight.errors import LockTimeoutError
from freight.timeutil import lock_seconds

__all__ = ["Lock", "new_owner"]

R = TypeVar("R")


def new_owner() -> str:
    """A random owner token (128 bits)."""
    return secrets.token_hex(16)


class Lock(ABC):
    """A named lock with an owner token; only its owner can release it."""

    #: seconds between attempts in :meth:`block`
    poll_interval = 0.05

    def __init__(
        self,
        name: str,
        seconds: float = 0,
        owner: str | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.seconds = lock_seconds(seconds, f"lock {name!r} seconds")
        self.owner = owner or new_owner()
        self._sleep = sleep
        self._clock = clock

    # -- primitives ---------------------------------------------------------------------
    @abstractmethod
    def acquire(self) -> bool:
        """Try once to take the lock; True if this owner now holds it."""

    @abstractmethod
    def release(self) -> bool:
        """Release the lock if this owner holds it (atomically); True if released."""

    @abstractmethod
    def force_release(self) -> None:
        """Release the lock whoever holds it."""

    @abstractmethod
    def current_owner(self) -> str | None:
        """The owner token currently holding the lock, or None."""

    @abstractmethod
    def refresh(self, seconds: float | None = None) -> bool:
        """Extend the lock to ``seconds`` (default: its original TTL) if this owner holds it."""

    # -- derived ------------------------------------------------------------------------
    def is_owned_by_current_process(self) -> bool:
        """True when this lock object's owner holds the lock."""
        return self.current_owner() == self.owner

    def get(self, fn: Callable[[], R] | None = None) -> Any:
        """Acquire once; with ``fn``, run it and release, returning its result (or False)."""
        acquired = self.acquire()
        if fn is None or not acquired:
            return acquired
        try:
            return fn()
        finally:
            self.release()

    def block(self, wait: float, fn: Callable[[], R] | None = None) -> Any:
        """Wait up to ``wait`` seconds for the lock, else raise :class:`LockTimeoutError`;
        with ``fn``, run it and release, returning its result."""
        deadline = self._clock() + wait
        while not self.acquire():
            if self._clock() >= deadline:
                raise LockTimeoutError(f"could not acquire lock {self.name!r} within {wait} s")
            self._sleep(self.poll_interval)
        if fn is None:
            return True
        try:
            return fn()
        finally:
            self.release()

    def __enter__(self) -> Lock:
        if not self.acquire():
            raise LockTimeoutError(f"lock {self.name!r} is held by another owner")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    # -- asyncio ------------------------------------------------------------------------
    # Stores without native async primitives run the sync ones in a worker thread, so the
    # event loop never blocks on a lock's network or file I/O.
    async def aacquire(self) -> bool:
        """:meth:`acquire` without blocking the event loop."""
        return await asyncio.to_thread(self.acquire)

    async def arelease(self) -> bool:
        """:meth:`release` without blocking the event loop."""
        return await asyncio.to_thread(self.release)

    async def arefresh(self, seconds: float | None = None) -> bool:
        """:meth:`refresh` without blocking the event loop."""
        return await asyncio.to_thread(self.refresh, seconds)

    async def ablock(self, wait: float, fn: Callable[[], R | Awaitable[R]] | None = None) -> Any:
        """:meth:`block` for coroutines: waits with ``asyncio.sleep``; ``fn`` may be async."""
        deadline = self._clock() + wait
        while not await self.aacquire():
            if self._clock() >= deadline:
                raise LockTimeoutError(f"could not acquire lock {self.name!r} within {wait} s")
            await asyncio.sleep(self.poll_interval)
        if fn is None:
            return True
        try:
            result = fn()
            return await result if inspect.isawaitable(result) else result
        finally:
            await self.arelease()

    async def __aenter__(self) -> Lock:
        if not await self.aacquire():
            raise LockTimeoutError(f"lock {self.name!r} is held by another owner")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.arelease()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} owner={self.owner[:8]}…>"
