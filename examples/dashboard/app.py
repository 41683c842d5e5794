"""The demo's Application: a file cache and a SQLite queue under ./storage (the defaults),
with the ``users`` key group recorded for the cache panel."""

from __future__ import annotations

from freight import Application

app = Application(
    {
        "cache": {"default": "file", "stores": {"file": {"driver": "file", "path": "storage/cache"}}},
        "queue": {
            "default": "database",
            "connections": {"database": {"driver": "database", "url": "sqlite:///storage/queue.sqlite3"}},
        },
        "metrics": {"key_groups": {"users": "user:*"}},
    }
)
