"""A FastAPI application using freight's asyncio API: nothing here blocks the event loop.

    pip install "freight[redis]" fastapi uvicorn
    uvicorn app:api                                    # from examples/fastapi_app
    curl -X POST localhost:8000/signup -H 'content-type: application/json' -d '{"email": "ada@example.com"}'
    curl localhost:8000/stats
    python -m freight work --app app:freight_app --concurrency 50 --stop-when-empty

``POST /signup`` counts the signup (``aincrement``) and queues an ``async def handle()``
job with ``await Welcome.adispatch(...)``; ``GET /stats`` is cached for 30 seconds with
``aremember`` and an async builder. The worker runs up to ``--concurrency`` welcome jobs
at once on its own event loop.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from freight import Application, Job

WORKDIR = os.environ.get("EXAMPLE_WORKDIR", ".")

#: SQLite queue and file cache by default; set REDIS_URL to use redis (native asyncio there)
freight_app = Application(
    {
        "cache": {
            "default": "redis" if os.environ.get("REDIS_URL") else "file",
            "prefix": "fastapi-example",
            "stores": {
                "file": {"driver": "file", "path": f"{WORKDIR}/storage/cache"},
                "redis": {"driver": "redis", "url": os.environ.get("REDIS_URL", "")},
            },
        },
        "queue": {
            "default": "database",
            "connections": {
                "database": {"driver": "database", "url": f"sqlite:///{WORKDIR}/storage/queue.sqlite3"}
            },
            "failed": {"driver": "database", "url": f"sqlite:///{WORKDIR}/storage/queue.sqlite3"},
        },
    }
)
cache = freight_app.cache()


class Welcome(Job):
    """Sends the welcome mail (here: appends a line), without blocking the worker's loop."""

    queue = "mail"

    async def handle(self) -> None:
        await asyncio.sleep(0.05)  # an HTTP call to the mail provider, say
        await cache.aincrement("welcomed")
        with open(f"{WORKDIR}/storage/mail.log", "a", encoding="utf-8") as log:
            log.write(f"welcome {self.data['email']}\n")


class Signup(BaseModel):
    email: str


api = FastAPI()


@api.post("/signup", status_code=202)
async def signup(body: Signup) -> dict[str, Any]:
    count = await cache.aincrement("signups")
    job_id = await Welcome.adispatch(email=body.email)
    return {"queued": job_id, "signups": count}


@api.get("/stats")
async def stats() -> dict[str, Any]:
    async def compute() -> dict[str, int]:
        await asyncio.sleep(0.01)  # a slow query
        return {"signups": await cache.aget("signups", 0), "welcomed": await cache.aget("welcomed", 0)}

    return await cache.aremember("stats", 30, compute)
