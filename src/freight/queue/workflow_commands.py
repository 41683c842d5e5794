"""Workflow sub-commands of ``python -m freight``: batches, batches:prune, cancel.

Exit codes: 0 success; 1 an error (printed to stderr), including a job that was not
waiting when ``cancel`` looked for it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from freight.app import Application

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the workflow sub-commands to ``sub`` (the result of ``add_subparsers()``)."""
    batches = sub.add_parser("batches", help="list the newest batches with their progress")
    batches.add_argument("connection", nargs="?", help="queue connection (default: the default one)")
    batches.add_argument("--limit", type=int, default=50, help="most batches to list (default 50)")
    batches.set_defaults(handler=cmd_batches)

    prune = sub.add_parser("batches:prune", help="delete finished batches older than --hours")
    prune.add_argument("connection", nargs="?", help="queue connection (default: the default one)")
    prune.add_argument("--hours", type=float, default=24, help="age in hours (default 24)")
    prune.set_defaults(handler=cmd_prune)

    cancel = sub.add_parser("cancel", help="remove a pending or delayed job so it never runs")
    cancel.add_argument("id", metavar="ID", help="the job id push() returned")
    cancel.add_argument("connection", nargs="?", help="queue connection (default: the default one)")
    cancel.set_defaults(handler=cmd_cancel)


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp).isoformat(sep=" ", timespec="seconds")


def cmd_batches(args: argparse.Namespace, app: Application) -> int:
    """``batches``: a table of batches, newest first."""
    queue = app.queue().connection(args.connection)
    states = queue.batches().recent(args.limit)
    if not states:
        print("No batches.")
        return 0
    rows = [["ID", "Name", "Progress", "Processed", "Failed", "Pending", "State", "Created", "Finished"]]
    for state in states:
        batch = queue.find_batch(state.id)
        if batch is None:
            continue
        status = "cancelled" if batch.cancelled else ("finished" if batch.finished else "running")
        rows.append(
            [
                batch.id,
                str(batch.name()) or "-",
                f"{batch.progress}%",
                str(batch.processed),
                str(batch.failed),
                str(batch.pending),
                status,
                _when(batch.created_at),
                _when(batch.finished_at),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_prune(args: argparse.Namespace, app: Application) -> int:
    """``batches:prune --hours N``: delete batches that finished more than N hours ago."""
    queue = app.queue().connection(args.connection)
    count = queue.batches().prune(queue.clock() - args.hours * 3600)
    print(f"Deleted {count} finished batch{'es' if count != 1 else ''} older than {args.hours:g} hours.")
    return 0


def cmd_cancel(args: argparse.Namespace, app: Application) -> int:
    """``cancel ID``: remove a pending or delayed job."""
    queue = app.queue().connection(args.connection)
    if queue.cancel(args.id):
        print(f"Cancelled job {args.id} on {queue.name}.")
        return 0
    print(
        f"error: job {args.id!r} is not waiting on {queue.name} (unknown, running or done)", file=sys.stderr
    )
    return 1
