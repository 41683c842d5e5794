"""The null store: keeps nothing, so every read is a miss; its locks always acquire.

Useful to switch caching off without changing code. Writes report that nothing was
stored (``put``, ``add`` and ``touch`` return False, as Laravel's NullStore does for
``put``); ``increment`` returns what a fresh counter would hold (``by``), since a
missing key starts at 0; ``forget`` returns False (there was nothing to remove) and
``flush`` returns True.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from freight.cache.lock import Lock
from freight.cache.stores.base import Store
from freight.manager import clock_of

if TYPE_CHECKING:
    from freight.cache.manager import CacheManager

__all__ = ["NullLock", "NullStore", "create"]


class NullStore(Store):
    """A store that stores nothing."""

    driver = "null"
    persists = False

    def get(self, key: str) -> bytes | None:
        """Always a miss."""
        return None

    def put(self, key: str, value: bytes, seconds: float | None) -> bool:
        """Stores nothing; False."""
        return False

    def add(self, key: str, value: bytes, seconds: float | None) -> bool:
        """Stores nothing; False."""
        return False

    def increment(self, key: str, by: int = 1) -> int:
        """``by``: the value a fresh counter would hold; nothing is stored."""
        return by

    def forget(self, key: str) -> bool:
        """Nothing to remove; False."""
        return False

    def flush(self) -> bool:
        """Nothing to remove; True."""
        return True

    def touch(self, key: str, seconds: float | None) -> bool:
        """No key exists; False."""
        return False

    def lock(self, name: str, seconds: float = 0, owner: str | None = None) -> Lock:
        """A lock that always acquires."""
        return NullLock(name, seconds, owner)


class NullLock(Lock):
    """A lock that is always free to take and always owned by whoever asks."""

    def acquire(self) -> bool:
        """Always True."""
        return True

    def release(self) -> bool:
        """Always True."""
        return True

    def force_release(self) -> None:
        """Nothing to do."""

    def current_owner(self) -> str | None:
        """This lock's own owner (the lock is always considered held by its asker)."""
        return self.owner

    def refresh(self, seconds: float | None = None) -> bool:
        """Always True."""
        return True


def create(config: dict[str, Any], manager: CacheManager) -> NullStore:
    """Build a null store from its configuration."""
    return NullStore(
        name=config["name"],
        prefix=str(config.get("prefix") or ""),
        clock=clock_of(config, manager),
        version=config.get("version", 1),
    )
