"""The example's jobs: an image pipeline (a chain) and an import in chunks (a batch)."""

from __future__ import annotations

from freight import Job


def say(text: str) -> None:
    """Print a line at once (the worker runs in this process)."""
    print(text, flush=True)


class Fetch(Job):
    """Step 1 of the chain."""

    def handle(self) -> None:
        say(f"  chain: fetched image {self.data['id']}")


class Resize(Job):
    """Step 2 of the chain; fails for good when ``data['broken']``."""

    tries = 1

    def handle(self) -> None:
        if self.data.get("broken"):
            raise RuntimeError(f"image {self.data['id']} is corrupt")
        say(f"  chain: resized image {self.data['id']}")


class Publish(Job):
    """Step 3 of the chain."""

    def handle(self) -> None:
        say(f"  chain: published image {self.data['id']}")


class Alert(Job):
    """The chain's catch job."""

    def handle(self) -> None:
        say(f"  chain: ALERT, the pipeline of image {self.data['id']} stopped")


class ImportChunk(Job):
    """One chunk of the import batch."""

    def handle(self) -> None:
        batch = self.batch()
        if batch is not None and batch.cancelled:
            return


class ImportDone(Job):
    """The batch's then job."""

    def handle(self) -> None:
        say(f"  batch: then -> import {self.data['name']!r} complete")


class ImportCleanup(Job):
    """The batch's finally job."""

    def handle(self) -> None:
        say(f"  batch: finally -> cleaned up after {self.data['name']!r}")
