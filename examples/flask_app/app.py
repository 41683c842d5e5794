"""A Flask application using freight through ``Freight(app)``.

    pip install "freight[flask]"
    flask --app app run                                  # from examples/flask_app
    curl -X POST localhost:5000/orders -H 'content-type: application/json' -d '{"item": "tea"}'
    flask --app app freight work --stop-when-empty       # runs the queued jobs in an app context

Configuration comes from ``app.config["FREIGHT"]``; ``Job.dispatch`` inside a view pushes
through this app's queue; ``flask freight ...`` runs any freight command.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, current_app, jsonify, request

from freight import Job
from freight.contrib.flask import Freight

WORKDIR = os.environ.get("EXAMPLE_WORKDIR", ".")


class ShipOrder(Job):
    """Runs in the worker inside an app context: ``current_app`` and its config are there."""

    def handle(self) -> None:
        with open(current_app.config["SHIPPING_LOG"], "a", encoding="utf-8") as log:
            log.write(f"shipped {self.data['item']} from {current_app.name}\n")


app = Flask("teashop")
app.config.update(
    SHIPPING_LOG=f"{WORKDIR}/storage/shipping.log",
    FREIGHT={
        "cache": {
            "default": "file",
            "stores": {"file": {"driver": "file", "path": f"{WORKDIR}/storage/cache"}},
        },
        "queue": {
            "default": "database",
            "connections": {
                "database": {"driver": "database", "url": f"sqlite:///{WORKDIR}/storage/queue.sqlite3"}
            },
            "failed": {"driver": "database", "url": f"sqlite:///{WORKDIR}/storage/queue.sqlite3"},
        },
    },
)
freight = Freight(app)


@app.post("/orders")
def order() -> Any:
    item = (request.get_json(silent=True) or {}).get("item", "tea")
    job_id = ShipOrder.dispatch(item=item)
    return jsonify(queued=job_id, waiting=freight.queue.size()), 202


@app.get("/menu")
def menu() -> Any:
    return jsonify(freight.cache.remember("menu", 60, lambda: ["tea", "scones"]))
