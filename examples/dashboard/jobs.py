"""The demo's jobs: a thumbnail that succeeds and an import that fails one time in ten."""

from __future__ import annotations

import time

from freight import Job


class MakeThumbnail(Job):
    """Pretends to resize an image."""

    queue = "images"

    def handle(self) -> None:
        time.sleep(0.002)


class ImportRow(Job):
    """Pretends to import one row; every tenth row is broken and fails for good."""

    tries = 1

    def handle(self) -> None:
        if self.data["row"] % 10 == 0:
            raise ValueError(f"row {self.data['row']}: bad date {self.data['date']!r}")
