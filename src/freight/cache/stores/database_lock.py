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
        return self._store._claim(self._store._locks, self._params(), f"acquire lock {self.name!r}")

    def release(self) -> bool:
        """DELETE the row only if this owner holds it (and it has not expired)."""
        store = self._store
        action = f"release lock {self.name!r}"
        return bool(store._run(store._locks.delete_owned, self._params(), action, relaxed=False))

    def force_release(self) -> None:
        """DELETE the row, whoever holds it."""
        action = f"force-release lock {self.name!r}"
        self._store._run(self._store._locks.delete, {"k": self._key}, action, relaxed=False)

    def current_owner(self) -> str | None:
        """The owner of the live row, if any."""
        with self._store._session(f"read lock {self.name!r}") as conn:
            owner = conn.execute(self._store._locks.select_live, self._params()).scalar()
        if owner is None or isinstance(owner, str):
            return owner
        return bytes(owner).decode("utf-8", "surrogatepass")

    def refresh(self, seconds: float | None = None) -> bool:
        """UPDATE the expiration only if this owner holds the lock."""
        store = self._store
        action = f"refresh lock {self.name!r}"
        return bool(store._run(store._locks.retime_owned, self._params(seconds), action, relaxed=False))
