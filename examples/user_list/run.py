"""Run the user-list example end to end on the embedded defaults (no server needed).

    python examples/user_list/run.py [--fresh] [--latency SECONDS]

1. signs three users up: each NEW user gets one SendWelcomeEmail job (a second run
   finds them registered and queues nothing);
2. renders the user list twice: a cache miss that loads from SQLite, then a hit;
3. runs ``python -m freight work --stop-when-empty``, which sends the emails
   (appends them to ``storage/outbox.txt``);
4. prints the outbox.

Everything lives in ``./storage`` under the current directory.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

from user_list.app import app  # noqa: E402
from user_list.component import CACHE_KEY, UserListComponent  # noqa: E402
from user_list.jobs import SendWelcomeEmail, outbox_path  # noqa: E402
from user_list.users import UserTable  # noqa: E402

NEW_USERS = [
    ("Ada Lovelace", "ada@example.com"),
    ("Grace Hopper", "grace@example.com"),
    ("Alan Turing", "alan@example.com"),
]
WORKER = ["-m", "freight", "work", "--app", "user_list.app:app", "--queue", "emails", "--stop-when-empty"]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def describe() -> str:
    """Which cache store and queue connection the example runs on."""
    cache_name, queue_name = app.config["cache"]["default"], app.config["queue"]["default"]
    store = app.config["cache"]["stores"][cache_name]
    connection = app.config["queue"]["connections"][queue_name]
    where = store.get("path") or store.get("url") or ""
    return (
        f"cache store {cache_name!r} ({store['driver']} {where}), "
        f"queue connection {queue_name!r} ({connection['driver']} {connection.get('url', '')})"
    )


def start_over(users: UserTable) -> None:
    """Forget what earlier runs left: the users, their markers, the cached list, the outbox."""
    cache = app.cache()
    for user in users.all():
        cache.forget(f"welcome-sent:{user['id']}")
    cache.forget(CACHE_KEY)
    users.path.unlink(missing_ok=True)
    outbox_path().unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fresh", action="store_true", help="delete what earlier runs left first")
    parser.add_argument(
        "--latency",
        type=float,
        default=float(os.environ.get("USER_LIST_LATENCY", 0.2)),
        help="seconds of simulated database latency per query (default 0.2)",
    )
    args = parser.parse_args(argv)

    if args.fresh:
        start_over(UserTable())
    users = UserTable(latency=args.latency)
    component = UserListComponent(app, users)
    queue = app.queue()
    app.cache().store()  # open the store now, so the renders below time reads, not start-up
    print(f"freight user-list example: {describe()}")

    print("\n1. signing users up (one welcome email job per NEW user)")
    queued = 0
    for name, email in NEW_USERS:
        created = component.sign_up(name, email)
        if created is None:
            print(f"   = {name} <{email}>: already registered, no job")
        else:
            user, job_id = created
            queued += 1
            print(f"   + {name} <{email}>: user #{user.id}, queued {SendWelcomeEmail.__name__} {job_id}")
    print(f"   {queued} job(s) dispatched; queue 'emails' holds {queue.size('emails')}")

    print(f"\n2. rendering the user list (cache.remember({CACHE_KEY!r}, 3600, ...))")
    for number in (1, 2):
        result = component.render()
        if result.hit:
            print(f"   render {number}: cache HIT, {result.users} users in {ms(result.seconds)}")
        else:
            print(
                f"   render {number}: cache MISS, loaded {result.users} users from SQLite "
                f"in {ms(result.seconds)} (simulated latency {ms(args.latency)})"
            )
    print(f"   {result.html}")
    print(f"   rendering queued nothing: queue 'emails' still holds {queue.size('emails')}")

    print("\n3. running the worker")
    print("   $ python " + " ".join(WORKER))
    sys.stdout.flush()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(EXAMPLES), env.get("PYTHONPATH", "")] if p)
    # the worker logs one line per job on stderr; show it in order with this output
    code = subprocess.run([sys.executable, *WORKER], env=env, stderr=subprocess.STDOUT).returncode
    print(f"   worker exited with {code}; queue 'emails' holds {queue.size('emails')}")

    outbox = outbox_path()
    text = outbox.read_text(encoding="utf-8") if outbox.exists() else ""
    print(f"\n4. the outbox ({outbox}): {text.count('Subject: ')} email(s)")
    for line in text.splitlines():
        if line.startswith(("To: ", "Subject: ")):
            print(f"   {line}")
    if not queued:
        print("\n(every user was already registered; run with --fresh to start over)")
    app.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
