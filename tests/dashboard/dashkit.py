"""Helpers of the dashboard tests: call a WSGI app in-process, run a worker subprocess."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from typing import Any


def wsgi_get(dashboard: Any, path: str, **environ: Any) -> tuple[str, dict[str, str], bytes]:
    """GET ``path`` from a WSGI callable: (status, headers, body)."""
    return wsgi_call(dashboard, "GET", path, b"", **environ)


def wsgi_call(
    dashboard: Any, method: str, path: str, body: bytes = b"", **environ: Any
) -> tuple[str, dict[str, str], bytes]:
    """Call a WSGI callable once: (status, headers, body)."""
    path, _, query = path.partition("?")
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "wsgi.input": io.BytesIO(body),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        **environ,
    }
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    data = b"".join(dashboard(env, start_response))
    return seen["status"], seen["headers"], data


def run_worker(cwd: Any, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m freight --app dash_app:app work --stop-when-empty`` in ``cwd``."""
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [sys.executable, "-m", "freight", "--app", "dash_app:app", "work", "--stop-when-empty", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
