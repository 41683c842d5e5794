"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright.

Playwright never downloads a browser here: it runs ``/usr/bin/chromium`` (scripts/test
installs the ``chromium`` package when it is missing). The test renders the overview with
data, retries a failed job from the failed-jobs view and checks that the job then ran,
and checks that a payload holding ``<script>`` shows as text and runs nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from freight import Worker
from freight.dashboard.server import make

CHROMIUM = os.environ.get("FREIGHT_TEST_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"


@pytest.fixture
def browser_page(tmp_path: Any) -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        message = f"chromium not installed at {CHROMIUM} (scripts/test installs Debian's chromium)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message + " (CI=true: a missing browser is a failure)", pytrace=False)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


@pytest.fixture
def served(dash_app: Any) -> Iterator[tuple[Any, str]]:
    app = dash_app("sqlite")
    server = make(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_overview_retry_and_escaping_in_chromium(
    served: tuple[Any, str], browser_page: Any, tmp_path: Any
) -> None:
    import dash_jobs

    app, url = served
    flag = str(tmp_path / "fixed")
    queue = app.queue().connection()
    queue.bulk([dash_jobs.Quick() for _ in range(30)] + [dash_jobs.Broken(text=HOSTILE) for _ in range(2)])
    queue.push(dash_jobs.FixedLater(flag=flag, text=HOSTILE))
    Worker(app, stop_when_empty=True, sleep=0).run()
    page = browser_page
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(url + "/")
    cards = page.locator("#overview-cards .card")
    assert cards.first.locator(".value").inner_text() == "30"  # processed, all time
    assert page.locator("#overview-cards").inner_text().count("3") >= 1  # failed
    assert page.locator("#throughput svg polyline, #throughput svg circle").count() >= 1
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

    page.goto(url + "/failed")
    rows = page.locator("tr.failed-job")
    assert rows.count() == 3
    fixed = rows.filter(has_text="FixedLater")
    fixed.locator("summary").click()
    payload = fixed.locator("pre.payload").inner_text()
    assert HOSTILE in payload  # shown as text, not run
    assert "<script>" in fixed.locator("pre.trace").inner_text()
    assert page.locator("main script, main img").count() == 0
    assert dialogs == []

    with open(flag, "w"):
        pass  # the bug is fixed; now retry the job from the page
    fixed.locator("button", has_text="retry").click()
    page.wait_for_url("**/failed?flash=*")
    assert "pushed back" in page.locator(".flash").inner_text()
    assert page.locator("tr.failed-job").count() == 2
    Worker(app, stop_when_empty=True, sleep=0).run()
    with open(flag) as f:
        assert f.read() == "ran\n"  # the retried job ran

    page.goto(url + "/queues")
    assert "31" in page.locator("main table").inner_text()  # 30 + the retried job
    assert dialogs == []
