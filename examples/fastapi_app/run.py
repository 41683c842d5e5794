"""Run the FastAPI example end to end: requests through Starlette's TestClient, then a worker.

    python examples/fastapi_app/run.py

Three signups are posted, the stats page is read twice (computed, then from the cache),
then a worker drains the queue with ``--concurrency 10`` and the mail log is printed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("EXAMPLE_WORKDIR", os.getcwd())
sys.path.insert(0, str(HERE))

from app import api, cache, freight_app  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from freight.queue.worker import Worker  # noqa: E402


def main() -> None:
    cache.flush()
    with TestClient(api) as client:
        for email in ("ada@example.com", "grace@example.com", "alan@example.com"):
            reply = client.post("/signup", json={"email": email}).json()
            print(f"POST /signup {email}: queued {reply['queued'][:8]}, signups={reply['signups']}")
        print("GET /stats:", client.get("/stats").json())
        print("GET /stats (cached):", client.get("/stats").json())
    print(f"queue 'mail' holds {freight_app.queue().size('mail')} job(s)")
    worker = Worker(freight_app, queues="mail", concurrency=10, stop_when_empty=True, sleep=0.1, memory=0)
    worker.run()
    print(f"worker ran {worker.processed} job(s) at --concurrency 10")
    print((Path(os.environ["EXAMPLE_WORKDIR"]) / "storage" / "mail.log").read_text().strip())
    print("welcomed:", cache.get("welcomed"))


if __name__ == "__main__":
    main()
