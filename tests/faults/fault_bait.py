"""A module no payload names as its job module: importing it at all is a failure."""

from __future__ import annotations

import os

_directory = os.environ.get("FAULT_TRAP_DIR")
if _directory:
    with open(os.path.join(_directory, "imported-fault_bait"), "a") as fh:
        fh.write(f"{os.getpid()}\n")
