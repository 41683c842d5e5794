"""freight.testing: fake_queue / fake_cache swap an application's managers and assert on them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from freight import Application, Job
from freight.testing import fake_cache, fake_queue

RAN: list[str] = []


class Mail(Job):
    queue = "mail"

    def handle(self) -> None:
        RAN.append(f"mail:{self.data['to']}")


class Import(Job):
    tries = 1

    def handle(self) -> None:
        RAN.append("import")
        if self.data.get("boom"):
            raise RuntimeError("import failed")
        Mail.dispatch(to="ops")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Application]:
    RAN.clear()
    config = {
        "cache": {"default": "files", "stores": {"files": {"driver": "file", "path": str(tmp_path / "c")}}},
        "queue": {
            "default": "main",
            "connections": {
                "main": {"driver": "redis", "url": "redis://127.0.0.1:1/0"},
                "other": {"driver": "sync"},
            },
        },
    }
    with Application(config) as application:
        yield application


def test_pushes_are_recorded_not_run_and_assertions_say_what_was_pushed(app: Application) -> None:
    real = app.queue()
    with fake_queue(app) as queue:
        assert app.queue() is queue.manager
        queue.assert_nothing_pushed()
        Mail.dispatch(to="ada")
        app.queue().later(60, Mail(to="bob"))
        app.queue().connection("other").bulk([Import(), Import()])
        assert RAN == []
        queue.assert_pushed(Mail)
        queue.assert_pushed(Mail, count=2)
        queue.assert_pushed(Mail, count=1, where=lambda job: job.data["to"] == "ada")
        queue.assert_pushed(Import, count=2)
        queue.assert_not_pushed(Mail, where=lambda job: job.data["to"] == "cy")
        assert [j.data["to"] for j in queue.pushed(Mail)] == ["ada", "bob"]
        assert [(e.connection, e.queue, e.delay) for e in queue.events][:2] == [
            ("main", "mail", 0.0),
            ("main", "mail", 60.0),
        ]
        with pytest.raises(
            AssertionError,
            match=r"expected Mail to be pushed 3 times, it was pushed 2 times; pushed: Mail, Mail, Import",
        ):
            queue.assert_pushed(Mail, count=3)
        with pytest.raises(AssertionError, match="expected Import not to be pushed, it was pushed 2 times"):
            queue.assert_not_pushed(Import)
        with pytest.raises(AssertionError, match="expected no job to be pushed"):
            queue.assert_nothing_pushed()
    assert app.queue() is real


def test_run_pushed_runs_ready_jobs_and_what_they_push(app: Application) -> None:
    with fake_queue(app) as queue:
        Import.dispatch()
        app.queue().later(60, Mail(to="later"))
        assert queue.run_pushed() == 2
        assert RAN == ["import", "mail:ops"]
        queue.assert_pushed(Mail, count=2)
        assert queue.run_pushed() == 0
        assert queue.manager.connection().size("mail") == 1  # the delayed one waits


def test_run_pushed_raises_the_first_job_error_after_running_the_rest(app: Application) -> None:
    with fake_queue(app) as queue:
        Import.dispatch(boom=True)
        Mail.dispatch(to="x")
        with pytest.raises(RuntimeError, match="import failed"):
            queue.run_pushed()
        assert sorted(RAN) == ["import", "mail:x"]
        Import.dispatch(boom=True)
        assert queue.run_pushed(raise_exceptions=False) == 1


def test_fake_cache_starts_empty_and_restores_the_real_store(app: Application) -> None:
    app.cache().put("kept", 1, 60)
    with fake_cache(app) as cache:
        cache.assert_missing("kept")
        app.cache().put("k", {"a": 1}, 60)
        cache.assert_has("k")
        cache.assert_has("k", {"a": 1})
        with pytest.raises(AssertionError, match=r"expected 'k' to be cached as 2"):
            cache.assert_has("k", 2)
        with pytest.raises(AssertionError, match="expected 'nope' to be cached"):
            cache.assert_has("nope")
        with pytest.raises(AssertionError, match="expected 'k' not to be cached"):
            cache.assert_missing("k")
    assert app.cache().get("kept") == 1 and app.cache().get("k") is None
