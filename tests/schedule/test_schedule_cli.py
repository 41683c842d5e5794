"""schedule:list, schedule:test and schedule:run, run in-process on an application module."""

from __future__ import annotations

import datetime as dt
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim

from freight.cli import main

APP = textwrap.dedent(
    """
    from freight import Application

    app = Application({"cache": {"default": "file", "stores": {"file": {"driver": "file", "path": "cache"}}}})
    schedule = app.schedule()
    RAN = []

    def report():
        RAN.append("report")
        return "reported"

    def tick():
        RAN.append("tick")

    def broken():
        raise RuntimeError("the report server is down")

    schedule.call(report).cron("*/15 9-17 * * 1-5").timezone("Europe/Berlin").name("report")
    schedule.call(broken).daily_at("03:00").timezone("America/New_York").name("broken")
    schedule.call(tick).every_minute().name("minutely").on_one_server()
    schedule.command("cache:prune").hourly_at(5)
    """
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "schedapp.py").write_text(APP, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("schedapp", None)
    yield tmp_path
    sys.modules.pop("schedapp", None)


def test_schedule_list_shows_the_next_runs_the_cron_library_computes(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = time.time()
    assert main(["schedule:list", "--app", "schedapp:app"]) == 0
    after = time.time()
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["Event", "Expression", "Timezone"]
    rows = {line.split()[0]: line for line in out[1:]}
    assert set(rows) == {"report", "broken", "minutely", "command"}
    for name, expr, zone in [
        ("report", "*/15 9-17 * * 1-5", "Europe/Berlin"),
        ("broken", "0 3 * * *", "America/New_York"),
        ("minutely", "* * * * *", "UTC"),
        ("command", "5 * * * *", "UTC"),
    ]:
        tz = dt.UTC if zone == "UTC" else ZoneInfo(zone)
        # the cron library's next run at the start and at the end of the command (a due time may pass)
        expected = {
            next(CronSim(expr, dt.datetime.fromtimestamp(at, tz))).strftime("%Y-%m-%d %H:%M:%S %Z")
            for at in (before, after)
        }
        assert expr in rows[name] and zone in rows[name]
        assert any(e in rows[name] for e in expected), (rows[name], expected)
    assert "[on_one_server]" in rows["minutely"]


def test_schedule_status_is_the_read_api_of_the_dashboard(project: Path) -> None:
    import schedapp

    rows = schedapp.app.schedule().status(now=1_800_000_000)
    assert [r["name"] for r in rows] == ["report", "broken", "minutely", "command cache:prune"]
    report = rows[0]
    assert report["expression"] == "*/15 9-17 * * 1-5" and report["timezone"] == "Europe/Berlin"
    expected = next(
        CronSim("*/15 9-17 * * 1-5", dt.datetime.fromtimestamp(1_800_000_000, ZoneInfo("Europe/Berlin")))
    )
    assert report["next_run"] == expected and report["last_run"] is None


def test_schedule_test_runs_one_event_and_records_its_outcome(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schedule:test", "report", "--app", "schedapp:app"]) == 0
    assert "report: ok: reported" in capsys.readouterr().out
    assert main(["schedule:test", "broken", "--app", "schedapp:app"]) == 1
    assert "broken: failed: RuntimeError: the report server is down" in capsys.readouterr().out
    assert main(["schedule:list", "--app", "schedapp:app"]) == 0
    listing = capsys.readouterr().out
    assert "ok: reported" in listing and "failed: RuntimeError" in listing
    assert main(["schedule:test", "nope", "--app", "schedapp:app"]) == 1
    assert "no scheduled event is called 'nope'" in capsys.readouterr().err


def test_schedule_run_runs_what_is_due_this_minute(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import schedapp

    assert main(["schedule:run", "--app", "schedapp:app"]) == 0
    assert schedapp.RAN.count("tick") == 1  # "minutely" was due at the start of this minute
    last = schedapp.app.schedule().status()[2]["last_run"]
    assert last["outcome"] == "ok" and last["due"] % 60 == 0 and time.time() - last["due"] < 61
