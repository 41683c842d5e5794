"""The lock of the file store: an entry in a key space of its own, handled under the shard's flock."""

from __future__ import annotations

from typing import TYPE_CHECKING

from freight.cache.lock import Lock

if TYPE_CHECKING:
    from freight.cache.stores.file import FileStore

__all__ = ["FileLock"]

#: the key space of locks (entries use b"k"), so a lock and an entry of the same name never collide
_LOCK = b"l"


class FileLock(Lock):
    """A lock stored as an entry of its own key space; every step runs under the shard's flock."""

    def __init__(self, store: FileStore, name: str, seconds: float = 0, owner: str | None = None) -> None:
        super().__init__(name, seconds, owner)
        self._store = store
        self._token = self.owner.encode("utf-8", "surrogatepass")

    def acquire(self) -> bool:
        """Take the lock if nobody holds it (or the holder's TTL ran out)."""
        return self._store.add_in(_LOCK, self.name, self._token, self.seconds or None)

    def release(self) -> bool:
        """Delete the lock file if this owner holds it."""
        return self._store.remove_in(_LOCK, self.name, self._token)

    def force_release(self) -> None:
        """Delete the lock file whoever holds it."""
        self._store.remove_in(_LOCK, self.name, None)

    def current_owner(self) -> str | None:
        """The owner holding the lock, or None."""
        value = self._store.read_in(_LOCK, self.name)
        return None if value is None else value.decode("utf-8", "surrogatepass")

    def refresh(self, seconds: float | None = None) -> bool:
        """Restart the lock's TTL (default its own; 0: no expiry) if this owner holds it."""
        ttl = self.seconds if seconds is None else seconds
        return self._store.retime_in(_LOCK, self.name, self._token, ttl or None)
