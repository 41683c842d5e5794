"""Dashboard security: loopback unless a token is set, sign-in, CSRF on every action, escaping."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from dashkit import wsgi_call, wsgi_get

from freight import Worker
from freight.cli import main
from freight.dashboard import wsgi_app
from freight.dashboard.server import is_loopback, make

HOSTILE = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"


def test_non_loopback_without_token_refuses_to_start(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "freight.toml"
    config.write_text('[queue]\ndefault = "sync"\n')
    assert main(["--config", str(config), "dashboard", "--host", "0.0.0.0", "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "refusing to serve the dashboard on 0.0.0.0" in err and "--token" in err


def test_non_loopback_with_token_starts(dash_app: Any) -> None:
    server = make(dash_app("sqlite"), "0.0.0.0", 0, token="s3cret")
    server.server_close()
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and not is_loopback("0.0.0.0")


def test_token_protects_pages_apis_and_metrics(dash_app: Any) -> None:
    dashboard = wsgi_app(dash_app("sqlite"), token="s3cret")
    status, _, body = wsgi_get(dashboard, "/")
    assert status == "401 Unauthorized" and b'name="token"' in body  # the page asks for it
    assert wsgi_get(dashboard, "/api/queues")[0] == "401 Unauthorized"
    assert wsgi_get(dashboard, "/metrics")[0] == "401 Unauthorized"
    assert wsgi_call(dashboard, "POST", "/login", b"token=wrong")[0] == "403 Forbidden"
    status, headers, _ = wsgi_call(dashboard, "POST", "/login", b"token=s3cret")
    assert status == "303 See Other"
    cookie = headers["Set-Cookie"].split(";")[0]
    assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
    assert wsgi_get(dashboard, "/", HTTP_COOKIE=cookie)[0] == "200 OK"
    assert wsgi_get(dashboard, "/metrics", HTTP_AUTHORIZATION="Bearer s3cret")[0] == "200 OK"
    assert wsgi_get(dashboard, "/api/queues", HTTP_AUTHORIZATION="Bearer nope")[0] == "401 Unauthorized"


def failed_job(app: Any) -> str:
    import dash_jobs

    app.queue().connection().push(dash_jobs.Broken(text=HOSTILE))
    Worker(app, stop_when_empty=True, sleep=0).run()
    (record,) = app.queue().failed().all()
    return str(record.id)


def test_actions_need_the_csrf_token(dash_app: Any) -> None:
    app = dash_app("sqlite")
    job_id = failed_job(app)
    dashboard = wsgi_app(app)
    for body in (b"", b"csrf=forged"):
        status, _, text = wsgi_call(dashboard, "POST", f"/failed/{job_id}/forget", body)
        assert status == "403 Forbidden" and b"CSRF" in text
    assert wsgi_call(dashboard, "POST", "/failed/retry-all")[0] == "403 Forbidden"
    assert app.queue().failed().find(job_id) is not None
    page = wsgi_get(dashboard, "/failed")[2].decode()
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert csrf is not None
    status, headers, _ = wsgi_call(dashboard, "POST", f"/failed/{job_id}/forget", f"csrf={csrf[1]}".encode())
    assert status == "303 See Other" and headers["Location"].startswith("/failed?flash=")
    assert app.queue().failed().find(job_id) is None
    assert wsgi_call(dashboard, "GET", "/failed/x/forget")[0] == "404 Not Found"  # actions are POSTs


def test_payloads_and_exceptions_render_as_text(dash_app: Any) -> None:
    app = dash_app("sqlite")
    failed_job(app)
    dashboard = wsgi_app(app)
    status, headers, body = wsgi_get(dashboard, "/failed")
    page = body.decode()
    assert status == "200 OK"
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page
    assert "script-src 'nonce-" in headers["Content-Security-Policy"]
    for path in ("/", "/queues", "/jobs", "/workers", "/cache"):
        assert "<script>alert" not in wsgi_get(dashboard, path)[2].decode()
    api = json.loads(wsgi_get(dashboard, "/api/jobs/failed")[2])
    assert HOSTILE in json.dumps(api[0]["payload"]) or HOSTILE in api[0]["exception"]


def test_optional_panels_appear_only_with_the_feature(dash_app: Any) -> None:
    app = dash_app("sqlite")
    dashboard = wsgi_app(app)
    nav = wsgi_get(dashboard, "/")[2].decode()
    schedule = getattr(app, "schedule", None)
    assert ">Schedule<" not in nav
    if callable(schedule):
        schedule().call(print).every_minute()
        nav = wsgi_get(wsgi_app(app), "/")[2].decode()
        assert ">Schedule<" in nav
        rows = json.loads(wsgi_get(dashboard, "/api/schedule")[2])
        assert rows and rows[0]["next_run"]


def test_batches_panel_lists_and_cancels_batches(dash_app: Any) -> None:
    import dash_jobs

    from freight.queue.batch import Batch

    app = dash_app("sqlite")
    batch = (
        Batch([dash_jobs.Quick(), dash_jobs.Quick()]).name("<b>import</b>").dispatch(app.queue().connection())
    )
    dashboard = wsgi_app(app)
    assert ">Batches<" in wsgi_get(dashboard, "/")[2].decode()
    (row,) = [r for r in json.loads(wsgi_get(dashboard, "/api/batches")[2]) if r["id"] == batch.id]
    assert (row["total"], row["pending"], row["progress"], row["name"]) == (2, 2, 0, "<b>import</b>")
    page = wsgi_get(dashboard, "/batches")[2].decode()
    assert "&lt;b&gt;import&lt;/b&gt;" in page and "<b>import" not in page
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert csrf is not None
    path = f"/batches/sqlite/{batch.id}/cancel"
    assert wsgi_call(dashboard, "POST", path)[0] == "403 Forbidden"
    assert wsgi_call(dashboard, "POST", path, f"csrf={csrf[1]}".encode())[0] == "303 See Other"
    (row,) = [r for r in json.loads(wsgi_get(dashboard, "/api/batches")[2]) if r["id"] == batch.id]
    assert row["cancelled_at"]
