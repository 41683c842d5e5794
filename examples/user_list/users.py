"""The users table: a small SQLite database, standing in for the application's own models."""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
)
"""


@dataclass(frozen=True)
class User:
    """One row of the users table."""

    id: int
    name: str
    email: str

    def as_dict(self) -> dict[str, Any]:
        """The user as JSON-encodable data (what the cache stores)."""
        return asdict(self)


class UserTable:
    """Reads and writes the ``users`` table of one SQLite file."""

    def __init__(self, path: str | os.PathLike[str] = "storage/users.sqlite3", latency: float = 0.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        #: seconds added to every full read, to stand in for a real database's round trips
        self.latency = latency
        with self._connect() as db:
            db.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def insert(self, name: str, email: str) -> User | None:
        """Insert a user; the new User, or None when the email is already registered."""
        with self._connect() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO users (name, email, created_at) VALUES (?, ?, ?)",
                (name, email, time.time()),
            )
            if cursor.rowcount == 0:
                return None
            return User(int(cursor.lastrowid or 0), name, email)

    def all(self) -> list[dict[str, Any]]:
        """Every user, oldest first, as plain dicts."""
        if self.latency:
            time.sleep(self.latency)
        with self._connect() as db:
            rows = db.execute("SELECT id, name, email FROM users ORDER BY id").fetchall()
        return [User(*row).as_dict() for row in rows]
