"""Run the Django example end to end.

    python examples/django_project/run.py

It uses Django's cache API on FreightCache, enqueues a ``@task`` with Django's task API,
runs ``manage.py freight work --stop-when-empty`` in a subprocess, and reads the result
back through ``TaskResult.refresh()``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("EXAMPLE_WORKDIR", os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
sys.path.insert(0, str(HERE))

import django  # noqa: E402

django.setup()

from django.core.cache import cache  # noqa: E402
from shop.tasks import invoice_total  # noqa: E402


def main() -> None:
    cache.set("greeting", {"text": "hello"}, timeout=60)
    cache.add("visits", 0)
    print("cache.get:", cache.get("greeting"), "| visits:", cache.incr("visits"))
    result = invoice_total.enqueue([9.5, 20.0], tax=0.2)
    print(f"enqueued task {result.id[:8]}: {result.status}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path[1:]])}
    worker = subprocess.run(
        [sys.executable, "manage.py", "freight", "work", "--stop-when-empty", "--sleep", "0.1"],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    print(f"manage.py freight work exited {worker.returncode}")
    result.refresh()
    print(f"task {result.id[:8]}: {result.status}, return value {result.return_value}")


if __name__ == "__main__":
    main()
