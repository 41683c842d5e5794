"""The one thing every benchmark job does: count itself, and time-stamp the first and last job.

A worker process imports this module through its job function. The harness tells it
where to write and how many jobs to expect through two environment variables (or
:func:`configure` when the worker runs in the harness process):

    FREIGHT_BENCH_MARKS   a directory; ``first`` and ``last`` files appear in it
    FREIGHT_BENCH_N       the number of jobs in the run

Each file holds the wall-clock time (``time.time()``) at which the first job started
and the N-th job finished. The count is per process and guarded by a lock, so a worker
running jobs on several threads (Dramatiq) counts correctly. Apart from the two file
writes this costs a lock and an addition per job, the same for every library.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

__all__ = ["configure", "mark", "read"]

_lock = threading.Lock()
_count = 0
_dir: Path | None = None
_target = 0


def configure(directory: str | os.PathLike[str] | None, n: int) -> None:
    """Point the marker at ``directory`` and expect ``n`` jobs; resets the count."""
    global _count, _dir, _target
    with _lock:
        _count = 0
        _dir = Path(directory) if directory else None
        _target = n


def _write(name: str, stamp: float) -> None:
    if _dir is None:
        return
    tmp = _dir / f".{name}.{os.getpid()}"
    tmp.write_text(f"{stamp:.6f}")
    os.replace(tmp, _dir / name)


def mark() -> None:
    """Record that one job ran (call it from the body of every benchmark job)."""
    global _count
    now = time.time()
    with _lock:
        _count += 1
        count = _count
    if count == 1:
        _write("first", now)
    if count == _target:
        _write("last", time.time())


def read(directory: Path, name: str) -> float | None:
    """The time stamp ``name`` (``first`` or ``last``) in ``directory``, or None if not written yet."""
    try:
        return float((directory / name).read_text())
    except (FileNotFoundError, ValueError):
        return None


configure(os.environ.get("FREIGHT_BENCH_MARKS"), int(os.environ.get("FREIGHT_BENCH_N", "0") or 0))
