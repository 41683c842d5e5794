"""Flask: a request dispatches a job through ``Freight(app)``; ``flask freight work`` runs it in an
app context (Flask's test client and CLI runner)."""

from __future__ import annotations

from pathlib import Path

from flaskapp import create_app


def test_a_request_dispatches_and_the_worker_runs_it_in_an_app_context(tmp_path: Path) -> None:
    app = create_app(str(tmp_path))
    client = app.test_client()
    for email in ("ada@example.com", "bob@example.com"):
        response = client.post("/welcome", json={"email": email})
        assert response.status_code == 200 and response.json["queued"]
    assert client.post("/welcome?async=1", json={"email": "cy@example.com"}).json["waiting"] == 3

    result = app.test_cli_runner().invoke(args=["freight", "work", "--stop-when-empty", "--sleep", "0.05"])
    assert result.exit_code == 0, result.output
    lines = sorted(Path(tmp_path / "jobs.log").read_text().splitlines())
    assert lines == [
        "ada@example.com app=shopfront fresh_g=True",
        "bob@example.com app=shopfront fresh_g=True",
        "cy@example.com async app=shopfront",
    ]
    size = app.test_cli_runner().invoke(args=["freight", "size"])
    assert size.exit_code == 0 and "0" in size.output


def test_each_app_dispatches_through_its_own_queue(tmp_path: Path) -> None:
    first, second = create_app(str(tmp_path / "a")), create_app(str(tmp_path / "b"))
    second.test_client().post("/welcome", json={"email": "x@example.com"})
    assert first.test_client().post("/welcome", json={"email": "y@example.com"}).json["waiting"] == 1
    assert second.extensions["freight"].queue.size() == 1
