"""The schedule sub-commands of ``python -m freight``: schedule:work, schedule:run,
schedule:list and schedule:test.

The events are those the application defines with ``app.schedule()``: start the commands
with ``--app module:app`` (or ``FREIGHT_APP``) naming the module that adds them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

from freight.errors import ConfigurationError
from freight.schedule.runner import Scheduler
from freight.schedule.schedule import Schedule

if TYPE_CHECKING:
    from freight.app import Application

__all__ = ["list_events", "register", "run", "test", "work"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the schedule sub-commands to ``subparsers``."""
    p = subparsers.add_parser("schedule:work", help="run the scheduler: fire every event when it is due")
    p.add_argument(
        "--grace", type=float, default=30.0, help="seconds SIGTERM waits for running callables (default 30)"
    )
    p.set_defaults(handler=work)

    p = subparsers.add_parser("schedule:run", help="run the events due this minute, then exit (for cron)")
    p.add_argument(
        "--grace", type=float, default=3600.0, help="seconds to wait for the runs it started (default 3600)"
    )
    p.set_defaults(handler=run)

    p = subparsers.add_parser("schedule:list", help="list the scheduled events with their next and last runs")
    p.set_defaults(handler=list_events)

    p = subparsers.add_parser("schedule:test", help="run one scheduled event now and wait for it")
    p.add_argument("name", help="the event's name (or description, as schedule:list shows it)")
    p.set_defaults(handler=test)


def _schedule(args: argparse.Namespace, app: Application) -> Schedule:
    schedule = app.schedule()
    options = []
    for flag in ("app", "config"):
        value = getattr(args, flag, None)
        if value:
            options += [f"--{flag}", value]
    schedule.cli_options = options
    return schedule


def work(args: argparse.Namespace, app: Application) -> int:
    """``schedule:work [--grace S]``: the scheduler loop; SIGTERM/SIGINT stop it gracefully."""
    schedule = _schedule(args, app)
    scheduler = Scheduler(schedule)
    if not scheduler.events:
        print("No scheduled events: add some with app.schedule() in the module given to --app.")
        return 0

    def on_signal(signum: int, frame: FrameType | None) -> None:
        scheduler.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    print(f"Scheduler started with {len(scheduler.events)} event(s).", flush=True)
    try:
        scheduler.run_forever()
    finally:
        clean = scheduler.shutdown(args.grace)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"Scheduler stopped after starting {scheduler.fired} run(s).", flush=True)
    return 0 if clean else 1


def run(args: argparse.Namespace, app: Application) -> int:
    """``schedule:run``: the events due in the current minute (sub-minute ones until its end)."""
    schedule = _schedule(args, app)
    scheduler = Scheduler(schedule)
    now = time.time()
    minute = now - now % 60
    scheduler.start(since=minute - 0.5)
    if any(event.parsed.has_seconds for event in scheduler.events):
        scheduler.run_forever(until=minute + 60)
    else:
        scheduler.tick()
    if scheduler.fired == 0:
        print("No scheduled event is due.")
    return 0 if scheduler.wait_idle(args.grace) else 1


def _when(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z")
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "-"


def list_events(args: argparse.Namespace, app: Application) -> int:
    """``schedule:list``: each event, its expression, zone, next run, last run and outcome."""
    rows = _schedule(args, app).status()
    if not rows:
        print("No scheduled events.")
        return 0
    table = [("Event", "Expression", "Timezone", "Next run", "Last run", "Outcome")]
    for row in rows:
        last = row["last_run"] or {}
        flags = "".join(f" [{f}]" for f in ("on_one_server", "without_overlapping", "catch_up") if row[f])
        outcome = last.get("outcome", "-")
        if last.get("detail"):
            outcome += f": {last['detail']}"
        table.append(
            (row["name"] + flags, row["expression"], row["timezone"], _when(row["next_run"]),
             _when(last.get("started")), outcome)
        )  # fmt: skip
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]) - 1)]
    for r in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=False)) + "  " + r[-1])
    return 0


def test(args: argparse.Namespace, app: Application) -> int:
    """``schedule:test NAME``: run the event now (its overlap lock is respected) and wait."""
    schedule = _schedule(args, app)
    found = schedule.find(args.name)
    if not found:
        names = ", ".join(repr(e.label) for e in schedule.events) or "none"
        raise ConfigurationError(f"no scheduled event is called {args.name!r} (events: {names})")
    if len(found) > 1:
        raise ConfigurationError(
            f"{len(found)} events match {args.name!r}: give them names with .name('...')"
        )
    event = found[0]
    scheduler = Scheduler(schedule)
    if scheduler.run_now(event) is None:
        print(f"{event.label}: not run, its previous run is still going (without_overlapping).")
        return 1
    scheduler.wait_idle()
    last = schedule.state().last(event) or {}
    print(
        f"{event.label}: {last.get('outcome', '?')}" + (f": {last['detail']}" if last.get("detail") else "")
    )
    return 0 if last.get("outcome") == "ok" else 1
