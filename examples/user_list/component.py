"""UserListComponent: renders the user list through the cache, and signs users up.

What the seed got wrong, done right here:

* the list is read through ``cache.remember("user_list", 3600, ...)``: one query per hour,
  not one per render, and the entry is forgotten as soon as a user signs up;
* a ``SendWelcomeEmail`` job is queued once per *new* user, when the user is created,
  never from ``render()`` (rendering twice must not email anyone twice).
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from typing import Any

from freight import Application
from user_list.jobs import SendWelcomeEmail
from user_list.users import User, UserTable

CACHE_KEY = "user_list"
CACHE_TTL = 3600  # seconds


@dataclass
class Render:
    """One rendering: the HTML, whether it came from the cache, and how long it took."""

    html: str
    hit: bool
    seconds: float
    users: int


class UserListComponent:
    """The user list of a (pretend) web page."""

    def __init__(self, app: Application, users: UserTable) -> None:
        self.app = app
        self.users = users

    def render(self) -> Render:
        """The list as HTML; the users come from the cache, or from SQLite on a miss."""
        loaded = False

        def load() -> list[dict[str, Any]]:
            nonlocal loaded
            loaded = True
            return self.users.all()

        started = time.perf_counter()
        rows = self.app.cache().remember(CACHE_KEY, CACHE_TTL, load)
        items = "".join(f"<li>{html.escape(u['name'])} &lt;{html.escape(u['email'])}&gt;</li>" for u in rows)
        return Render(
            f"<ul>{items}</ul>", hit=not loaded, seconds=time.perf_counter() - started, users=len(rows)
        )

    def sign_up(self, name: str, email: str) -> tuple[User, str] | None:
        """Create a user and queue its welcome email; None (and no job) if the email exists."""
        user = self.users.insert(name, email)
        if user is None:
            return None
        self.app.cache().forget(CACHE_KEY)  # the cached list no longer has everyone
        job_id = self.app.queue().push(SendWelcomeEmail(user_id=user.id, name=user.name, email=user.email))
        return user, job_id
