"""Bait for the poison-payload tests: every import and every call here leaves a marker.

A payload may *name* this module (the worker then imports it, which is allowed), but
nothing in it may ever be *called*: a marker file ``called-*`` in ``FAULT_TRAP_DIR``
proves the worker ran code a payload pointed at.
"""

from __future__ import annotations

import os
from typing import Any


def mark(what: str) -> None:
    """Leave the marker ``what`` in ``FAULT_TRAP_DIR`` (nowhere when it is unset)."""
    directory = os.environ.get("FAULT_TRAP_DIR")
    if directory:
        with open(os.path.join(directory, what), "a") as fh:
            fh.write(f"{os.getpid()}\n")


mark("imported-fault_trap")


class _Meta(type):
    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        mark(f"called-{cls.__name__}")
        return super().__call__(*args, **kwargs)


class NotAJob(metaclass=_Meta):
    """A class that is not a freight Job; instantiating it leaves a marker."""

    def handle(self) -> None:
        mark("called-NotAJob.handle")


def trap(*args: Any, **kwargs: Any) -> None:
    """A function; calling it leaves a marker."""
    mark("called-trap")
