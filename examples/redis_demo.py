"""The redis cache store and the redis queue, both configured from ``FREIGHT_REDIS_URL``.

    pip install -e ".[redis]"
    FREIGHT_REDIS_URL=redis://127.0.0.1:6379/0 python examples/redis_demo.py

Neither the store nor the connection below names a URL: both fall back to
``FREIGHT_REDIS_URL``. The cache keys share the prefix ``$REDIS_DEMO_PREFIX`` (default
``redis-demo``) and the jobs go to the queue ``$REDIS_DEMO_QUEUE`` (default
``redis-demo``); the script removes both when it is done, and touches nothing else on
the server (``flush()`` deletes the store's own prefix only).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from freight import Application, Job

PREFIX = os.environ.get("REDIS_DEMO_PREFIX", "redis-demo")
QUEUE = os.environ.get("REDIS_DEMO_QUEUE", "redis-demo")

app = Application(
    {
        "cache": {
            "default": "redis",
            "prefix": PREFIX,
            "stores": {"redis": {"driver": "redis"}},  # url: FREIGHT_REDIS_URL
        },
        "queue": {
            "default": "redis",
            "connections": {"redis": {"driver": "redis", "queue": QUEUE, "retry_after": 90}},
            "failed": {"driver": "redis", "prefix": f"{PREFIX}:failed"},
        },
    }
)


class CountWords(Job):
    """Counts the words of one sentence into the shared redis cache."""

    def handle(self) -> None:
        cache = app.cache()
        cache.increment("words", len(self.data["text"].split()))
        cache.increment("jobs-done")


def main() -> int:
    url = os.environ.get("FREIGHT_REDIS_URL")
    if not url:
        print("set FREIGHT_REDIS_URL, e.g. FREIGHT_REDIS_URL=redis://127.0.0.1:6379/0", file=sys.stderr)
        return 2
    cache, queue = app.cache(), app.queue()
    print(f"redis at {url}: cache prefix {PREFIX!r}, queue {QUEUE!r}")
    try:
        print("\ncache")
        cache.put("greeting", {"text": "hello", "at": time.time()}, 60)
        print(f"  put/get with a 60 s TTL: {cache.get('greeting')['text']!r}")
        print(f"  add on an existing key: {cache.add('greeting', 'other', 60)} (add never overwrites)")
        print(
            f"  increment: {cache.increment('visits')}, {cache.increment('visits')}, "
            f"{cache.increment('visits', 10)}"
        )
        answer = cache.remember("answer", 300, lambda: 6 * 7)
        print(f"  remember: {answer} (computed once, then read from redis)")
        with cache.lock("report", 10) as lock:
            print(
                f"  lock 'report' held by owner {lock.owner[:8]}...; "
                f"a second acquire: {cache.lock('report', 10).acquire()}"
            )

        print("\nqueue")
        cache.put_many({"words": 0, "jobs-done": 0})
        sentences = ["the quick brown fox", "jumps over", "the lazy dog", "freight runs jobs", "on redis"]
        ids = queue.bulk([CountWords(text=s) for s in sentences])
        print(f"  bulk-pushed {len(ids)} jobs; size of {QUEUE!r}: {queue.size()}")
        command = [
            sys.executable,
            "-m",
            "freight",
            "work",
            "redis",
            "--app",
            "redis_demo:app",
            "--stop-when-empty",
        ]
        print("  $ python -m freight work redis --app redis_demo:app --stop-when-empty")
        sys.stdout.flush()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")] if p
            ),
        }
        code = subprocess.run(command, env=env, stderr=subprocess.STDOUT).returncode
        print(
            f"  worker exited with {code}; jobs done: {cache.get('jobs-done')}, "
            f"words counted: {cache.get('words')}, size now: {queue.size()}, "
            f"failed: {len(app.queue().failed().all())}"
        )
        return code
    finally:  # leave nothing behind on the server
        queue.clear()
        app.queue().failed().flush()
        cache.flush()
        app.close()


if __name__ == "__main__":
    # A payload names its job class by module ("redis_demo:CountWords"); a class defined in
    # __main__ cannot be found by the worker, so run main() from the importable module.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import redis_demo

    sys.exit(redis_demo.main())
