"""The dashboard as a WSGI application: pages, JSON APIs, ``/metrics`` and the failed-job actions.

``wsgi_app(app)`` returns the callable; mount it anywhere (Flask, Django, any WSGI
server); links follow ``SCRIPT_NAME``. With a token or password every request must carry
the session cookie set by the sign-in form or an ``Authorization: Bearer <token>``
header. Every POST other than sign-in must carry the CSRF token (form field ``csrf`` or
header ``X-CSRF-Token``). Responses forbid framing and any script but the page's own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Iterable
from importlib import resources
from string import Template
from typing import Any
from urllib.parse import parse_qs, quote

from freight.app import Application
from freight.dashboard import pages
from freight.dashboard.prometheus import CONTENT_TYPE, render
from freight.dashboard.readers import Readers

__all__ = ["Dashboard", "wsgi_app"]

StartResponse = Callable[..., Any]
COOKIE = "freight_dashboard"
#: the largest POST body read
MAX_BODY = 64 * 1024
VIEWS = ("overview", "queues", "jobs", "failed", "workers", "cache", "batches", "schedule")
TITLES = {"overview": "Overview", "jobs": "Recent jobs", "failed": "Failed jobs"}


def _asset(name: str) -> str:
    return resources.files("freight.dashboard").joinpath(name).read_text("utf-8")


class Response:
    """Status, headers and body of one response."""

    def __init__(self, status: str, body: bytes | str = b"", content_type: str = "text/html; charset=utf-8"):
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.headers = [("Content-Type", content_type)]

    @classmethod
    def json(cls, data: Any, status: str = "200 OK") -> Response:
        """A JSON response."""
        return cls(status, json.dumps(data, default=str), "application/json")

    @classmethod
    def redirect(cls, location: str) -> Response:
        """A 303 See Other to ``location``."""
        made = cls("303 See Other")
        made.headers.append(("Location", location))
        return made


class Dashboard:
    """The WSGI callable; see the module docstring."""

    def __init__(
        self,
        app: Application,
        *,
        token: str | None = None,
        refresh: int = 5,
        readers: Readers | None = None,
    ) -> None:
        settings = app.config.get("dashboard") or {}
        self.app = app
        self.secret = (
            token
            or settings.get("token")
            or settings.get("password")
            or os.environ.get("FREIGHT_DASHBOARD_TOKEN")
        )
        self.refresh = int(settings.get("refresh", refresh))
        self.readers = readers or Readers(app)
        key = (self.secret or secrets.token_hex(32)).encode("utf-8")
        self._session = hmac.new(key, b"freight-dashboard-session", hashlib.sha256).hexdigest()
        self.csrf = hmac.new(key, b"freight-dashboard-csrf", hashlib.sha256).hexdigest()
        self._css, self._js = _asset("static/dashboard.css"), _asset("static/dashboard.js")
        self._layout = Template(_asset("templates/layout.html"))
        self._login = Template(_asset("templates/login.html"))

    # -- WSGI ------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            response = self.handle(environ)
        except Exception as exc:  # a backend that is down shows as an error page, not a crash
            response = Response(
                "500 Internal Server Error", f"dashboard error: {type(exc).__name__}", "text/plain"
            )
        headers = [
            *response.headers,
            ("Content-Length", str(len(response.body))),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"),
            ("Cache-Control", "no-store"),
        ]
        start_response(response.status, headers)
        return [response.body]

    def handle(self, environ: dict[str, Any]) -> Response:
        """Route one request."""
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = "/" + environ.get("PATH_INFO", "/").strip("/")
        base = environ.get("SCRIPT_NAME", "").rstrip("/")
        if path == "/login" and method == "POST":
            return self._sign_in(environ, base)
        if not self._authorised(environ):
            if path.startswith(("/api", "/metrics")) or method != "GET":
                return Response.json(
                    {"error": "a token is required (Authorization: Bearer ...)"}, "401 Unauthorized"
                )
            return self._login_page(base, "", "401 Unauthorized")
        if method == "POST":
            return self._action(environ, path, base)
        if method not in ("GET", "HEAD"):
            return Response("405 Method Not Allowed", "method not allowed", "text/plain")
        if path == "/metrics":
            return Response("200 OK", render(self.readers), CONTENT_TYPE)
        if path.startswith("/api/"):
            return self._api(path[5:])
        view = path.strip("/") or "overview"
        if view not in VIEWS or not self._shows(view):
            return Response("404 Not Found", "not found", "text/plain")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        body = self._render(view, base, query.get("flash", [""])[0])
        if environ.get("HTTP_X_FRAGMENT"):
            return Response("200 OK", body)
        return self._page(view, base, body)

    # -- security -----------------------------------------------------------------------------
    def _authorised(self, environ: dict[str, Any]) -> bool:
        if not self.secret:
            return True
        header = environ.get("HTTP_AUTHORIZATION", "")
        if header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip(), self.secret):
            return True
        for part in environ.get("HTTP_COOKIE", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and hmac.compare_digest(value, self._session):
                return True
        return False

    def _sign_in(self, environ: dict[str, Any], base: str) -> Response:
        given = _form(environ).get("token", "")
        if not self.secret or not hmac.compare_digest(given.encode("utf-8"), self.secret.encode("utf-8")):
            return self._login_page(base, "wrong token", "403 Forbidden")
        response = Response.redirect(base + "/")
        response.headers.append(
            ("Set-Cookie", f"{COOKIE}={self._session}; Path={base or '/'}; HttpOnly; SameSite=Strict")
        )
        return response

    def _login_page(self, base: str, error: str, status: str) -> Response:
        note = f'<p class="bad">{pages.e(error)}</p>' if error else ""
        return Response(status, self._login.substitute(css=self._css, base=pages.e(base), error=note))

    def _action(self, environ: dict[str, Any], path: str, base: str) -> Response:
        form = _form(environ)
        given = form.get("csrf") or environ.get("HTTP_X_CSRF_TOKEN", "")
        if not hmac.compare_digest(given.encode("utf-8"), self.csrf.encode("utf-8")):
            return Response(
                "403 Forbidden", "missing or wrong CSRF token: reload the page and try again", "text/plain"
            )
        parts = path.strip("/").split("/")
        if parts[:1] == ["api"]:
            parts = parts[1:]
        if parts[:2] == ["jobs", "failed"]:
            parts = parts[1:]
        if len(parts) == 4 and parts[0] == "batches" and parts[3] == "cancel":
            done = self.readers.cancel_batch(parts[1], parts[2])
            message = f"batch {parts[2]} cancelled" if done else "no such batch"
            if "application/json" in environ.get("HTTP_ACCEPT", ""):
                return Response.json({"ok": done, "message": message}, "200 OK" if done else "404 Not Found")
            return Response.redirect(f"{base}/batches?flash={quote(message)}")
        if parts == ["failed", "retry-all"]:
            done, message = True, f"{self.readers.retry_all()} failed jobs pushed back"
        elif len(parts) == 3 and parts[0] == "failed" and parts[2] in ("retry", "forget"):
            job_id, verb = parts[1], parts[2]
            done = self.readers.retry(job_id) if verb == "retry" else self.readers.forget(job_id)
            message = (
                f"job {job_id} {'pushed back' if verb == 'retry' else 'forgotten'}" if done else "no such job"
            )
        else:
            return Response("404 Not Found", "not found", "text/plain")
        if "application/json" in environ.get("HTTP_ACCEPT", ""):
            return Response.json({"ok": done, "message": message}, "200 OK" if done else "404 Not Found")
        return Response.redirect(f"{base}/failed?flash={quote(message)}")

    # -- views -------------------------------------------------------------------------------
    def _shows(self, view: str) -> bool:
        if view == "batches":
            return self.readers.batches() is not None
        if view == "schedule":
            return bool(self.readers.schedule())
        return True

    def _render(self, view: str, base: str, flash: str) -> str:
        r = self.readers
        if view == "overview":
            return pages.overview(r.overview())
        if view == "queues":
            return pages.queues(r.queues())
        if view == "jobs":
            return pages.recent(r.recent_jobs())
        if view == "failed":
            return pages.failed(r.failed_jobs(), base, self.csrf, flash)
        if view == "workers":
            return pages.workers(r.workers())
        if view == "cache":
            return pages.cache(r.cache())
        if view == "batches":
            return pages.batches(r.batches() or [], base, self.csrf)
        return pages.schedule(r.schedule() or [])

    def _page(self, view: str, base: str, body: str) -> Response:
        nav = "".join(
            f'<a href="{pages.e(base)}/{"" if v == "overview" else v}"{" class=active" if v == view else ""}>'
            f"{pages.e(TITLES.get(v, v.capitalize()))}</a>"
            for v in VIEWS
            if v not in ("batches", "schedule") or self._shows(v)
        )
        nonce = secrets.token_urlsafe(16)
        html = self._layout.substitute(
            title=pages.e(TITLES.get(view, view.capitalize())),
            css=self._css,
            js=self._js,
            nav=nav,
            body=body,
            csrf=pages.e(self.csrf),
            refresh=self.refresh,
            nonce=nonce,
        )
        response = Response("200 OK", html)
        response.headers.append(
            (
                "Content-Security-Policy",
                f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; "
                f"script-src 'nonce-{nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            )
        )
        return response

    def _api(self, name: str) -> Response:
        r = self.readers
        routes: dict[str, Callable[[], Any]] = {
            "overview": r.overview,
            "queues": r.queues,
            "workers": r.workers,
            "jobs/recent": r.recent_jobs,
            "jobs/failed": r.failed_jobs,
            "cache": r.cache,
            "batches": lambda: r.batches() or [],
            "schedule": lambda: r.schedule() or [],
        }
        route = routes.get(name.strip("/"))
        if route is None:
            return Response.json(
                {"error": f"no API {name!r}; known: {', '.join(sorted(routes))}"}, "404 Not Found"
            )
        return Response.json(route())


def _form(environ: dict[str, Any]) -> dict[str, str]:
    try:
        length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_BODY)
    except ValueError:
        length = 0
    raw = environ["wsgi.input"].read(length) if length else b""
    return {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}


def wsgi_app(app: Application, *, token: str | None = None, refresh: int = 5) -> Dashboard:
    """The dashboard of ``app`` as a WSGI callable (mount it in Flask, Django or any server)."""
    return Dashboard(app, token=token, refresh=refresh)
