"""The lock of the database cache store: one row of its lock table per held lock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from freight.cache.lock import Lock
from freight.cache.stores.database_sql import stored_key

if TYPE_CHECKING:
    from freight.cache.stores.database import DatabaseStore

__all__ = ["DatabaseLock"]


class DatabaseLock(Lock):
    """A lock stored as a (key, owner, expiration) row."""

    def __init__(self, store: DatabaseStore, name: str, seconds: float = 0, owner: str | None = None) -> None:
        super().__init__(name, seconds, owner)
        self._store = store
        self._key = stored_key(store.lock_ns, name)

    def _params(self, seconds: float | None = None) -> dict[str, Any]:
        ttl = self.seconds if seconds is None else seconds
        now = self._store.clock()
        owner = self.owner.encode("utf-8", "surrogatepass") if self._store.flavour == "mysql" else self.owner
        return {"k": self._key, "v": owner, "exp": now + ttl if ttl > 0 else None, "now": now}

    def acquire(self) -> bool:
        """Insert the row, or take over an expired one, atomically."""
        return self._store.claim_lock(self._params(), f"acquire lock {self.name!r}")

    def release(self) -> bool:
        """DELETE the row only if this owner holds it (and it has not expired)."""
        return self._store.delete_lock(self._params(), f"release lock {self.name!r}", owned=True)

    def force_release(self) -> None:
        """DELETE the row, whoever holds it."""
        self._store.delete_lock({"k": self._key}, f"force-release lock {self.name!r}", owned=False)

    def current_owner(self) -> str | None:
        """The owner of the live row, if any."""
        owner = self._store.lock_owner(self._params(), f"read lock {self.name!r}")
        if owner is None or isinstance(owner, str):
            return owner
        return bytes(owner).decode("utf-8", "surrogatepass")

    def refresh(self, seconds: float | None = None) -> bool:
        """UPDATE the expiration only if this owner holds the lock."""
        return self._store.retime_lock(self._params(seconds), f"refresh lock {self.name!r}")
