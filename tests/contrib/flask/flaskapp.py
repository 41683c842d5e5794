"""A small Flask application for the integration tests: a view dispatches a job; the job writes
what it sees of the app context to the file named by ``app.config["OUT"]``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, jsonify, request

from freight import Job
from freight.contrib.flask import Freight


class Welcome(Job):
    """Records the app it ran in and whether ``g`` was fresh."""

    def handle(self) -> None:
        fresh = not hasattr(g, "seen")
        g.seen = True
        line = f"{self.data['email']} app={current_app.name} fresh_g={fresh}\n"
        with Path(current_app.config["OUT"]).open("a", encoding="utf-8") as out:
            out.write(line)


class AsyncWelcome(Job):
    """The async twin: the app context is there inside the coroutine too."""

    async def handle(self) -> None:
        await asyncio.sleep(0)
        with Path(current_app.config["OUT"]).open("a", encoding="utf-8") as out:
            out.write(f"{self.data['email']} async app={current_app.name}\n")


def create_app(workdir: str) -> Flask:
    """The app, with freight's queue and failed store on SQLite in ``workdir``."""
    app = Flask("shopfront")
    app.config.update(
        OUT=f"{workdir}/jobs.log",
        FREIGHT={
            "cache": {"default": "array"},
            "queue": {
                "default": "database",
                "connections": {
                    "database": {"driver": "database", "url": f"sqlite:///{workdir}/queue.sqlite3"}
                },
                "failed": {"driver": "database", "url": f"sqlite:///{workdir}/queue.sqlite3"},
            },
        },
    )
    freight = Freight(app)

    @app.post("/welcome")
    def welcome() -> Any:
        email = request.json["email"] if request.json else ""
        job = AsyncWelcome if request.args.get("async") else Welcome
        job_id = job.dispatch(email=email)
        return jsonify(queued=job_id, waiting=freight.queue.size())

    return app
