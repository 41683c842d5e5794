"""The job the example queues: one welcome email per new user, written to a local outbox file."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from freight import Job
from freight.app import current_app

log = logging.getLogger("user_list")


def outbox_path() -> Path:
    """Where the "emails" go: ``$USER_LIST_OUTBOX``, else ``storage/outbox.txt``."""
    return Path(os.environ.get("USER_LIST_OUTBOX", "storage/outbox.txt"))


class SendWelcomeEmail(Job):
    """Sends (here: appends to the outbox file) the welcome email of one new user."""

    queue = "emails"
    tries = 3
    backoff = [1, 5, 30]
    timeout = 30

    def handle(self) -> None:
        user_id, name, email = self.data["user_id"], self.data["name"], self.data["email"]
        cache = current_app().cache()
        # Delivery is at least once: a job can run again after a crash. This marker
        # makes a second run of an email that was already sent a no-op.
        marker = f"welcome-sent:{user_id}"
        if cache.has(marker):
            log.info("welcome email to %s was already sent; skipping", email)
            return
        path = outbox_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as outbox:
            outbox.write(
                f"To: {name} <{email}>\n"
                f"Subject: Welcome, {name}!\n"
                f"Date: {time.strftime('%Y-%m-%d %H:%M:%S')}\n\n"
                f"Hello {name.split()[0]}, your account #{user_id} is ready.\n"
                "----\n"
            )
        cache.forever(marker, time.time())
        log.info("welcome email to %s written to %s", email, path)
