"""Scheduled tasks: two ``schedule:work`` processes sharing one schedule, each due time fired once.

    pip install -e ".[database,schedule]"
    python examples/scheduled.py            # runs two schedulers for 6 s, then lists the schedule

This module is also the application the schedulers load (``--app scheduled:app``). It
uses the embedded defaults: a file cache under ``./storage/cache``, whose ``add`` is
atomic across processes on one machine, so ``on_one_server()`` works here with no
server; on several machines use redis, memcached or a database store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from freight import Application, Job
from freight.schedule import current_run

app = Application()
schedule = app.schedule()
HEARTBEATS = Path("storage/heartbeat.log")


def heartbeat() -> None:
    """Appends the due time it runs for, and the scheduler's pid, to storage/heartbeat.log."""
    run = current_run()
    assert run is not None
    with HEARTBEATS.open("a", encoding="utf-8") as log:
        log.write(f"{run.due} {os.getpid()}\n")


def refresh_rates() -> str:
    """Stands for a slow task: three seconds, scheduled every two."""
    time.sleep(3)
    return "rates refreshed"


@app.warmer("front_page", ttl=300)
def front_page() -> str:
    """A cache warmer: the value is stored under "front_page" for five minutes."""
    return "<h1>Today</h1>"


class NightlyReport(Job):
    """Dispatched to the queue at 03:00 Berlin time; a worker runs it."""

    def handle(self) -> None:
        print("report for", self.data["team"])


schedule.call(heartbeat).every_second().on_one_server().name("heartbeat")
schedule.call(refresh_rates).every_two_seconds().without_overlapping(expires=60).name("rates")
schedule.command("cache:prune").every_five_seconds().on_one_server()
schedule.warm("front_page").every_two_seconds().on_one_server()
schedule.job(NightlyReport(team="ops")).daily_at("03:00").timezone("Europe/Berlin").name("nightly report")


def main() -> int:
    seconds = float(os.environ.get("SCHEDULE_DEMO_SECONDS", "6"))
    HEARTBEATS.parent.mkdir(parents=True, exist_ok=True)
    HEARTBEATS.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent)}
    command = [sys.executable, "-m", "freight", "schedule:work", "--app", "scheduled:app"]
    print(f"$ python {' '.join(command[1:])}   (twice, for {seconds:g} s)")
    schedulers = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for _ in range(2)
    ]
    for proc in schedulers:  # "Scheduler started with 4 event(s)."
        assert proc.stdout is not None
        print(proc.stdout.readline(), end="")
    time.sleep(seconds)
    for proc in schedulers:
        proc.send_signal(signal.SIGTERM)  # each waits for its running tasks, then exits
    for proc in schedulers:
        print(proc.communicate(timeout=60)[0], end="")
    codes = [proc.returncode for proc in schedulers]
    print(f"schedulers exited with {codes}")

    dues = [line.split() for line in HEARTBEATS.read_text(encoding="utf-8").splitlines()]
    per_due = Counter(due for due, _ in dues)
    twice = sum(1 for n in per_due.values() if n > 1)
    print(f"heartbeat: {len(dues)} run(s) for {len(per_due)} due time(s), {twice} fired twice")
    for pid, n in sorted(Counter(pid for _, pid in dues).items()):
        print(f"  scheduler {pid} fired {n}")
    print("\n$ python -m freight schedule:list --app scheduled:app")
    listing = subprocess.run(
        [*command[:3], "schedule:list", *command[4:]], env=env, capture_output=True, text=True
    )
    print(listing.stdout, end="")
    return 0 if twice == 0 and not any(codes) else 1


if __name__ == "__main__":
    sys.exit(main())
