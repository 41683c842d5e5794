"""Failed-job sub-commands of ``python -m freight``: failed, failed:show, retry, forget, flush.

A failed job's id is its payload's uuid (what ``push`` returned and what the worker's
FAIL line shows), so an id from the log works with every command here. A record the
store cannot read is listed as corrupt and skipped by ``retry all``; ``forget`` removes it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any

from freight.errors import FreightError
from freight.queue.failed import FailedJob, retry_failed

if TYPE_CHECKING:
    from freight.app import Application

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the failed-job sub-commands to ``sub`` (the result of ``add_subparsers()``)."""
    failed = sub.add_parser("failed", help="list failed jobs")
    failed.add_argument("--json", action="store_true", help="print the records as a JSON array")
    failed.set_defaults(handler=cmd_failed)

    show = sub.add_parser("failed:show", help="show one failed job with its traceback and payload")
    show.add_argument("id", metavar="ID")
    show.add_argument("--json", action="store_true", help="print the record as JSON")
    show.set_defaults(handler=cmd_show)

    retry = sub.add_parser("retry", help="push failed jobs back onto their queues")
    retry.add_argument("ids", nargs="+", metavar="ID", help="failed job ids, or 'all'")
    retry.add_argument(
        "--connection", help="push onto this connection (default: the job's, or for 'sync' the default queue)"
    )
    retry.set_defaults(handler=cmd_retry)

    forget = sub.add_parser("forget", help="delete a failed job")
    forget.add_argument("id", metavar="ID")
    forget.set_defaults(handler=cmd_forget)

    flush = sub.add_parser("flush", help="delete every failed job")
    flush.set_defaults(handler=cmd_flush)


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).isoformat(sep=" ", timespec="seconds") if timestamp else "?"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def as_dict(record: FailedJob) -> dict[str, Any]:
    """A record as plain JSON values (``failed --json``, ``failed:show --json``)."""
    return {
        "id": record.id,
        "connection": record.connection,
        "queue": record.queue,
        "job": record.job_class,
        "failed_at": record.failed_at,
        "summary": record.summary,
        "exception": record.exception,
        "payload": record.payload,
        "corrupt": record.corrupt or None,
    }


def cmd_failed(args: argparse.Namespace, app: Application) -> int:
    """``failed [--json]``: failed jobs, newest first (corrupt records marked as such)."""
    records = app.queue().failed().all()
    if args.json:
        print(json.dumps([as_dict(r) for r in records], indent=2))
        return 0
    if not records:
        print("No failed jobs.")
        return 0
    rows = [["ID", "Connection", "Queue", "Job", "Failed at", "Exception"]]
    for r in records:
        summary = f"CORRUPT: {r.corrupt}" if r.corrupt else r.summary
        summary = summary if len(summary) <= 80 else summary[:77] + "..."
        rows.append([r.id, r.connection, r.queue, r.job_class, _when(r.failed_at), summary])
    print(_table(rows))
    return 0


def cmd_show(args: argparse.Namespace, app: Application) -> int:
    """``failed:show ID [--json]``: one failed job with its whole traceback and payload."""
    record = app.queue().failed().find(args.id)
    if record is None:
        print(f"error: no failed job with id {args.id!r}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(as_dict(record), indent=2))
        return 0
    print(f"ID:         {record.id}")
    if record.corrupt:
        print(f"CORRUPT:    {record.corrupt}")
    print(f"Job:        {record.job_class}")
    print(f"Connection: {record.connection}")
    print(f"Queue:      {record.queue}")
    print(f"Failed at:  {_when(record.failed_at)}")
    print(f"Payload:    {record.payload}")
    print(f"\n{record.exception}")
    return 0


def cmd_retry(args: argparse.Namespace, app: Application) -> int:
    """``retry ID... | all [--connection NAME]``: push failed jobs back, as fresh jobs, and
    forget each record only once its push succeeded."""
    manager = app.queue()
    store = manager.failed()
    pairs: list[tuple[str, FailedJob | None]]
    if args.ids == ["all"]:
        pairs = [(r.id, r) for r in store.all()]
        if not pairs:
            print("No failed jobs.")
    else:
        pairs = [(wanted, store.find(wanted)) for wanted in args.ids]
    status = 0
    for wanted, record in pairs:
        if record is None:
            print(f"error: no failed job with id {wanted!r}", file=sys.stderr)
            status = 1
            continue
        if record.corrupt:
            print(f"skipped corrupt failed job {record.id}: {record.corrupt}", file=sys.stderr)
            status = 1
            continue
        try:
            target = retry_failed(manager, record, connection=args.connection)
        except FreightError as exc:
            print(f"error: cannot push failed job {record.id} back (kept): {exc}", file=sys.stderr)
            status = 1
            continue
        store.forget(record.id)
        print(f"Pushed failed job {record.id} ({record.job_class}) back onto {target}:{record.queue}.")
    return status


def cmd_forget(args: argparse.Namespace, app: Application) -> int:
    """``forget ID``: delete one failed job."""
    if app.queue().failed().forget(args.id):
        print(f"Deleted failed job {args.id}.")
        return 0
    print(f"error: no failed job with id {args.id!r}", file=sys.stderr)
    return 1


def cmd_flush(args: argparse.Namespace, app: Application) -> int:
    """``flush``: delete every failed job."""
    count = app.queue().failed().flush()
    print(f"Deleted {count} failed job{'s' if count != 1 else ''}.")
    return 0
