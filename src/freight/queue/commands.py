"""Queue sub-commands of ``python -m freight``: work, failed, retry, forget, flush, clear, size, queue:table.

Exit codes: 0 success; 1 an error (printed to stderr), including an unknown failed-job
id; 2 bad usage (argparse); ``work`` also exits 3 (a job timed out hard) and 4 (the
memory limit was exceeded), see :mod:`freight.queue.worker`.
"""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Any

from freight.errors import ConfigurationError
from freight.queue import failed_commands
from freight.queue.backoff import parse as parse_backoff
from freight.queue.supervisor import Supervisor, supervised_child

if TYPE_CHECKING:
    from freight.app import Application

__all__ = ["register"]


def seconds(text: str) -> float:
    """An argparse type: finite, non-negative seconds (``--sleep -1`` is a usage error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be finite and not negative")
    return value


def count(text: str) -> int:
    """An argparse type: a whole number, not negative (``--tries -1`` is a usage error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def pool_range(text: str) -> tuple[int, int]:
    """``MIN,MAX`` for ``--autoscale`` (1 <= MIN <= MAX)."""
    try:
        lo, hi = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX (two whole numbers), got {text!r}") from None
    if not 1 <= lo <= hi:
        raise argparse.ArgumentTypeError(f"expected 1 <= MIN <= MAX, got {text!r}")
    return lo, hi


def register(sub: Any) -> None:
    """Add the queue sub-commands to ``sub`` (the result of ``add_subparsers()``)."""
    work = sub.add_parser(
        "work",
        help="run a worker",
        description="Run jobs until stopped (exit codes: "
        "0 stopped, 1 error, 3 a job timed out hard, 4 memory limit).",
    )
    work.add_argument("connection", nargs="?", help="queue connection (default: the default connection)")
    work.add_argument("--queue", help="queues in priority order, comma-separated (default: the connection's)")
    work.add_argument("--sleep", type=seconds, default=3.0, help="seconds to wait when all queues are empty")
    work.add_argument("--tries", type=count, help="attempts for jobs that set no tries (default 3)")
    work.add_argument("--backoff", help="seconds between attempts for jobs that set none: N or 1,5,30")
    work.add_argument(
        "--timeout", type=seconds, help="seconds per attempt for jobs that set none (default 60)"
    )
    work.add_argument(
        "--grace",
        type=seconds,
        default=5.0,
        help="seconds a job may overrun its timeout before the worker exits with code 3",
    )
    work.add_argument("--max-jobs", type=count, default=0, help="stop after this many jobs (0: no limit)")
    work.add_argument(
        "--max-time", type=seconds, default=0, help="stop after this many seconds (0: no limit)"
    )
    work.add_argument("--memory", type=seconds, default=128, help="stop with exit code 4 above this many MiB")
    work.add_argument("--prefetch", type=count, default=100, help="most jobs reserved per round trip")
    work.add_argument(
        "--concurrency",
        type=count,
        default=1,
        help="async jobs (async def handle) run at once on the worker's event loop (default 1)",
    )
    work.add_argument("--stop-when-empty", action="store_true", help="stop once every queue is empty")
    work.add_argument("--once", action="store_true", help="run a single job, then stop")
    work.add_argument("-q", "--quiet", action="store_true", help="log only retries, failures and errors")
    work.add_argument(
        "--processes", type=count, default=1, help="run N worker processes under one supervisor"
    )
    work.add_argument(
        "--autoscale", type=pool_range, help="MIN,MAX: run between MIN and MAX processes, by backlog"
    )
    work.add_argument("--cooldown", type=seconds, default=3.0, help="seconds between two autoscale decisions")
    work.add_argument(
        "--max-wait",
        type=seconds,
        default=10.0,
        help="autoscale adds a process when the backlog would take longer than this to drain",
    )
    work.set_defaults(handler=cmd_work)

    failed_commands.register(sub)

    for name, handler, text in (
        ("clear", cmd_clear, "delete every job on queues"),
        ("size", cmd_size, "count the jobs on queues"),
    ):
        parser = sub.add_parser(name, help=text)
        parser.add_argument("connection", nargs="?", help="queue connection (default: the default one)")
        parser.add_argument("--queue", help="queues, comma-separated (default: the connection's)")
        parser.set_defaults(handler=handler)

    table = sub.add_parser(
        "queue:table", help="create the jobs table of a database connection and the failed-jobs table"
    )
    table.add_argument("connection", nargs="?", help="queue connection (default: the default one)")
    table.set_defaults(handler=cmd_table)


def _queues(text: str | None, default: str) -> list[str]:
    names = [q.strip() for q in (text or "").split(",") if q.strip()]
    return names or [default]


def _log_setup(app: Application, connection: str | None) -> None:
    """Say where the configuration came from and where the jobs and failures live, so a worker
    reading another database than its producers shows it on its first lines."""
    log = logging.getLogger("freight.worker")
    queue = app.queue().connection(connection)
    log.info("config: %s", app.config_source)
    log.info("connection %s: %s %s", queue.name, queue.driver, queue.describe())
    log.info("failed jobs: %r", app.queue().failed())


def cmd_work(args: argparse.Namespace, app: Application) -> int:
    """``work``: run a worker until it stops; returns its exit code."""
    from freight.queue.worker import Worker

    if args.quiet:
        logging.getLogger("freight.worker").setLevel(logging.WARNING)
    if args.processes > 1 or args.autoscale:
        return _supervise(args, app)
    supervised_child()
    _log_setup(app, args.connection)
    worker = Worker(
        app,
        args.connection,
        args.queue,
        sleep=args.sleep,
        tries=args.tries,
        backoff=parse_backoff(args.backoff) if args.backoff else None,
        timeout=args.timeout,
        max_jobs=args.max_jobs,
        max_time=args.max_time,
        memory=args.memory,
        stop_when_empty=args.stop_when_empty,
        once=args.once,
        grace=args.grace,
        prefetch=args.prefetch,
        concurrency=args.concurrency,
    )
    return worker.run()


def _supervise(args: argparse.Namespace, app: Application) -> int:
    """``work --processes N`` / ``--autoscale MIN,MAX``: a supervisor of worker processes."""
    backlog = None
    if args.autoscale:
        connection = app.queue().connection(args.connection)
        queues = _queues(args.queue, connection.default_queue)

        def backlog() -> int:
            return sum(connection.size(q) for q in queues)

    supervisor = Supervisor(
        args.argv,
        max(args.processes, args.autoscale[0]) if args.autoscale else args.processes,
        autoscale=args.autoscale,
        cooldown=args.cooldown,
        max_wait=args.max_wait,
        backlog=backlog,
    )
    return supervisor.run()


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def cmd_clear(args: argparse.Namespace, app: Application) -> int:
    """``clear [connection] [--queue a,b]``: delete every job on the queues."""
    queue = app.queue().connection(args.connection)
    for name in _queues(args.queue, queue.default_queue):
        count = queue.clear(name)
        print(f"Cleared {count} job{'s' if count != 1 else ''} from {queue.name}:{name}.")
    return 0


def cmd_size(args: argparse.Namespace, app: Application) -> int:
    """``size [connection] [--queue a,b]``: ready, delayed and reserved jobs of every queue
    the connection holds (or of the ``--queue`` ones), on the default connection or one named."""
    queue = app.queue().connection(args.connection)
    names = _queues(args.queue, queue.default_queue) if args.queue else queue.queue_names()
    rows = [["Queue", "Ready", "Delayed", "Reserved", "Total"]]
    for name in names:
        ready, delayed, reserved = queue.counts(name)
        rows.append(
            [f"{queue.name}:{name}", str(ready), str(delayed), str(reserved), str(ready + delayed + reserved)]
        )
    print(_table(rows))
    return 0


def cmd_table(args: argparse.Namespace, app: Application) -> int:
    """``queue:table [connection]``: create the connection's jobs table and the failed-jobs table."""
    manager = app.queue()
    queue = manager.connection(args.connection)
    if not queue.has_tables:
        raise ConfigurationError(
            f"connection {queue.name!r} uses the {queue.driver!r} driver, which has no tables; "
            "queue:table is for database connections"
        )
    queue.create_tables()
    print(f"Created the jobs table of connection {queue.name!r} (if missing).")
    store = manager.failed()
    store.create_tables()
    print(f"Failed-job store ready: {store!r}.")
    return 0
