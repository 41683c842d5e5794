"""Cache warmers: the registry on the Application, warm(), cache:warm and its --queue jobs."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from freight.app import Application
from freight.cli import main
from freight.errors import ConfigurationError
from freight.warmup import RefreshCacheValue, WarmCache, warm

CALLS: list[str] = []


def stats_builder() -> str:
    """A module-level builder, as flexible(defer='queue') needs."""
    CALLS.append("stats")
    return "refreshed"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Application]:
    config = {
        "cache": {"default": "array", "stores": {"array": {"driver": "array"}}},
        "queue": {"default": "sync", "connections": {"sync": {"driver": "sync"}}},
    }
    made = Application(config)
    yield made
    made.close()


def test_warmers_store_their_value_and_a_failure_keeps_the_old_one(app: Application) -> None:
    @app.warmer("user_list", ttl=3600)
    def user_list() -> list[str]:
        return ["ada", "bob"]

    @app.warmer("broken", key="report", tags=["reports"])
    def broken() -> str:
        raise RuntimeError("database down")

    cache = app.cache()
    cache.put("report", "old", 60)
    seen: list[tuple[int, int, str, str]] = []
    report = warm(app, progress=lambda *step: seen.append(step))
    assert cache.get("user_list") == ["ada", "bob"]
    assert cache.get("report") == "old", "a failing warmer leaves the old value"
    assert report.warmed == ["user_list"] and report.keys == 1
    assert report.failures == [("broken", "RuntimeError: database down")]
    assert seen == [(1, 2, "user_list", "ok"), (2, 2, "broken", "failed")]
    assert "Warmed 1 of 2 warmer(s): 1 key(s)" in report.summary() and "1 failed" in report.summary()


def test_warm_names_some_and_refuses_unknown_ones(app: Application) -> None:
    app.warmer("a")(lambda: 1)
    app.warmer("b")(lambda: 2)
    assert warm(app, ["b"]).warmed == ["b"] and app.cache().missing("a")
    with pytest.raises(ConfigurationError, match="unknown warmer.*nope.*known: a, b"):
        warm(app, ["nope"])


def test_the_command_prints_a_summary_and_fails_when_a_warmer_fails(
    app: Application, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app.warmer("good", ttl=60)(lambda: "v")
    monkeypatch.setattr("freight.cli.load_app", lambda args: app)
    assert main(["cache:warm"]) == 0
    assert "Warmed 1 of 1 warmer(s): 1 key(s)" in capsys.readouterr().out
    app.warmer("bad")(lambda: 1 / 0)
    assert main(["cache:warm", "good", "bad"]) == 1
    out = capsys.readouterr().out
    assert "1 failed" in out and "bad: ZeroDivisionError" in out


def test_progress_shows_only_on_a_terminal(app: Application) -> None:
    from freight.warmup import _progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert _progress(io.StringIO()) is None
    stream = Tty()
    show = _progress(stream)
    assert show is not None
    show(1, 2, "a", "ok")
    show(2, 2, "b", "failed")
    assert stream.getvalue().endswith("[2/2] b: failed\n")


def test_queue_pushes_one_job_per_warmer(app: Application, monkeypatch: pytest.MonkeyPatch) -> None:
    app.warmer("w", ttl=60)(lambda: "from a job")
    pushed: list[Any] = []
    monkeypatch.setattr(WarmCache, "dispatch", classmethod(lambda cls, data: pushed.append(data)))
    monkeypatch.setattr("freight.cli.load_app", lambda args: app)
    assert main(["cache:warm", "--queue"]) == 0
    assert pushed == [{"warmer": "w"}]
    WarmCache({"warmer": "w"}).handle()
    assert app.cache().get("w") == "from a job"


def test_flexible_can_refresh_through_a_queued_job(app: Application, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = app.cache()
    clock = [1000.0]
    repository = cache.store()
    monkeypatch.setattr(repository, "_clock", lambda: clock[0])
    pushed: list[Any] = []
    monkeypatch.setattr(RefreshCacheValue, "dispatch", classmethod(lambda cls, data: pushed.append(data)))
    assert repository.flexible("stats", (10, 100), stats_builder, defer="queue") == "refreshed"
    repository.put("stats", "stale", 100)
    clock[0] += 20
    assert repository.flexible("stats", (10, 100), stats_builder, defer="queue") == "stale"
    assert [p["fn"] for p in pushed] == [f"{__name__}:stats_builder"]
    RefreshCacheValue(pushed[0]).handle()
    assert repository.get("stats") == "refreshed"
    with pytest.raises(ConfigurationError, match="module-level function"):
        clock[0] += 20
        repository.flexible("stats", (10, 100), lambda: 1, defer="queue")
