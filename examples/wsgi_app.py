"""A standard-library WSGI application using freight: one cached page and one queued job.

    python examples/wsgi_app.py                 # serves http://127.0.0.1:8000 (wsgiref)
    curl -i http://127.0.0.1:8000/              # X-Cache: MISS, then HIT for 60 seconds
    curl -i -d email=ada@example.com http://127.0.0.1:8000/subscribe    # 202, a job is queued
    PYTHONPATH=examples python -m freight work --app wsgi_app:app --stop-when-empty

Routes: ``GET /`` (the cached page), ``POST /subscribe`` (queues ``Subscribe``),
``GET /health`` (JSON with the queue size). Nothing here needs a framework; the same
two calls (``cache().remember`` and ``queue().push``) work from Flask or Django views.
"""

from __future__ import annotations

import html
import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from freight import Application, Job

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

PAGE_TTL = 60  # seconds


def subscribers_path() -> Path:
    """Where ``Subscribe`` records addresses: ``$WSGI_APP_SUBSCRIBERS`` or storage/subscribers.txt."""
    return Path(os.environ.get("WSGI_APP_SUBSCRIBERS", "storage/subscribers.txt"))


class Subscribe(Job):
    """Adds one address to the newsletter list (a local file standing in for a mail service)."""

    tries = 5
    backoff = [2, 10, 60]

    def handle(self) -> None:
        path = subscribers_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        known = set(path.read_text(encoding="utf-8").split()) if path.exists() else set()
        if self.data["email"] not in known:  # idempotent: a redelivered job adds nothing
            with path.open("a", encoding="utf-8") as fh:
                fh.write(self.data["email"] + "\n")


def render_home() -> str:
    """The expensive part of the page (here: a pretend report that takes a while to build)."""
    time.sleep(float(os.environ.get("WSGI_APP_RENDER_SECONDS", "0.05")))
    rows = "".join(f"<tr><td>{n}</td><td>{n * n}</td></tr>" for n in range(1, 11))
    return f"<h1>Squares</h1><p>built at {time.strftime('%H:%M:%S')}</p><table>{rows}</table>"


def make_wsgi_app(freight_app: Application) -> WSGIApp:
    """The WSGI callable serving the three routes with ``freight_app``'s cache and queue."""

    def respond(
        start: StartResponse,
        status: str,
        body: str,
        content_type: str = "text/html",
        headers: list[tuple[str, str]] | None = None,
    ) -> list[bytes]:
        data = body.encode("utf-8")
        start(
            status,
            [
                ("Content-Type", f"{content_type}; charset=utf-8"),
                ("Content-Length", str(len(data))),
                *(headers or []),
            ],
        )
        return [data]

    def application(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", "/"), environ.get("REQUEST_METHOD", "GET")
        if path == "/" and method == "GET":
            built = False

            def build() -> str:
                nonlocal built
                built = True
                return render_home()

            page = freight_app.cache().remember("page:/", PAGE_TTL, build)
            return respond(start, "200 OK", page, headers=[("X-Cache", "MISS" if built else "HIT")])
        if path == "/subscribe" and method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            form = parse_qs(environ["wsgi.input"].read(length).decode("utf-8"))
            email = (form.get("email") or [""])[0].strip()
            if "@" not in email:
                return respond(
                    start, "400 Bad Request", json.dumps({"error": "email is required"}), "application/json"
                )
            job_id = freight_app.queue().push(Subscribe(email=email))
            return respond(start, "202 Accepted", json.dumps({"queued": job_id}), "application/json")
        if path == "/health" and method == "GET":
            body = json.dumps(
                {"queue": freight_app.config["queue"]["default"], "queue_size": freight_app.queue().size()}
            )
            return respond(start, "200 OK", body, "application/json")
        if path in {"/", "/subscribe", "/health"}:
            return respond(start, "405 Method Not Allowed", "method not allowed", "text/plain")
        return respond(start, "404 Not Found", f"no page at {html.escape(path)}", "text/plain")

    return application


# The Application the server and the worker (`--app wsgi_app:app`) share: the embedded
# defaults, or ./freight.toml, with FREIGHT_* overrides.
app = Application()
application = make_wsgi_app(app)

if __name__ == "__main__":
    # A payload names its job class by module ("wsgi_app:Subscribe"); a class defined in
    # __main__ cannot be found by the worker, so serve the importable module's callable.
    import sys
    from wsgiref.simple_server import make_server

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import wsgi_app

    with make_server("127.0.0.1", 8000, wsgi_app.application) as server:
        print("serving on http://127.0.0.1:8000 (Ctrl-C to stop)")
        server.serve_forever()
