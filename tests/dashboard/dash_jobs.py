"""Importable jobs for the dashboard tests (payloads name them ``dash_jobs:Name``)."""

from __future__ import annotations

import os

from freight.queue.job import Job


class Quick(Job):
    """Succeeds at once."""

    def handle(self) -> None:
        pass


class Broken(Job):
    """Fails on its only try; its data may hold hostile text."""

    tries = 1

    def handle(self) -> None:
        raise RuntimeError(f"broken: {self.data.get('text', '')}")


class Flaky(Job):
    """Fails its first attempt, succeeds on the second (no backoff)."""

    tries = 2
    backoff = 0

    def handle(self) -> None:
        if self.attempts < 2:
            raise RuntimeError("first attempt fails")


class FixedLater(Job):
    """Fails until the file named by ``data['flag']`` exists (a bug fixed, then a retry)."""

    tries = 1

    def handle(self) -> None:
        if not os.path.exists(self.data["flag"]):
            raise RuntimeError(f"not fixed yet: {self.data.get('text', '')}")
        with open(self.data["flag"], "a") as f:
            f.write("ran\n")
