"""Application: config sources, the managers it holds, current-app semantics, loading by --app."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from freight import Application, Job
from freight.app import current_app
from freight.cli import load_app
from freight.current import set_current
from freight.errors import ConfigurationError, FreightError

ARRAY_CONFIG = {
    "cache": {"default": "array"},
    "queue": {"default": "sync"},
}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run in an empty directory, without FREIGHT_* variables, restoring the current app."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("FREIGHT_"):
            monkeypatch.delenv(name)
    saved = Application.current()
    set_current(None)
    yield
    set_current(saved)


# -- configuration sources ------------------------------------------------------------------------
def test_no_arguments_uses_the_embedded_defaults() -> None:
    app = Application()
    assert app.config["cache"]["default"] == "file"
    assert app.config["queue"]["default"] == "database"
    assert repr(app) == "<Application cache='file' queue='database'>"


def test_from_a_dict_a_path_and_discovery(tmp_path: Path) -> None:
    assert Application(ARRAY_CONFIG).config["cache"]["default"] == "array"
    (tmp_path / "custom.toml").write_text('[cache]\ndefault = "null"\n')
    assert Application.from_config(tmp_path / "custom.toml").config["cache"]["default"] == "null"
    assert Application.from_config(str(tmp_path / "custom.toml")).config["cache"]["default"] == "null"
    (tmp_path / "freight.toml").write_text('[queue]\ndefault = "sync"\n')
    assert Application.from_config(None).config["queue"]["default"] == "sync"


def test_environment_overrides_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREIGHT_CACHE_DEFAULT", "null")
    assert Application(ARRAY_CONFIG).config["cache"]["default"] == "null"


def test_invalid_configuration_fails_at_construction_and_names_the_key() -> None:
    with pytest.raises(ConfigurationError, match="'cache.default'"):
        Application({"cache": {"default": "nowhere"}})
    assert Application.current() is None  # a failed construction does not become current


# -- the managers ----------------------------------------------------------------------------------
def test_cache_and_queue_managers_are_built_once_from_the_config() -> None:
    from freight import CacheManager, QueueManager

    app = Application(ARRAY_CONFIG)
    assert isinstance(app.cache(), CacheManager)
    assert isinstance(app.queue(), QueueManager)
    assert app.cache() is app.cache()
    assert app.queue() is app.queue()
    app.cache().put("greeting", "hello", 60)
    assert app.cache().get("greeting") == "hello"
    assert app.cache().store("array").get("greeting") == "hello"


def test_each_application_has_its_own_managers() -> None:
    one, two = Application(ARRAY_CONFIG), Application(ARRAY_CONFIG)
    one.cache().put("k", 1)
    assert two.cache().get("k") is None
    assert one.queue() is not two.queue()


def test_managers_are_created_lazily() -> None:
    app = Application(ARRAY_CONFIG)
    assert app._cache is None and app._queue is None
    app.cache()
    assert app._queue is None


def test_the_default_application_works_with_no_server(tmp_path: Path) -> None:
    app = Application()
    app.cache().put("k", {"v": 1}, 60)
    assert app.cache().get("k") == {"v": 1}
    assert (tmp_path / "storage" / "cache").is_dir()
    app.queue().push(Job({"n": 1}))
    assert app.queue().size() == 1
    app.queue().clear()
    app.close()


def test_close_purges_the_managers_and_stops_being_current() -> None:
    app = Application(ARRAY_CONFIG)
    store = app.cache().store()
    app.close()
    assert Application.current() is None
    assert app.cache().store() is not store  # rebuilt on next use


# -- the current application ----------------------------------------------------------------------
def test_the_newest_application_is_current() -> None:
    first = Application(ARRAY_CONFIG)
    assert Application.current() is first
    assert current_app() is first
    second = Application(ARRAY_CONFIG)
    assert current_app() is second
    assert first.make_current() is first
    assert current_app() is first


def test_closing_another_application_leaves_the_current_one() -> None:
    first = Application(ARRAY_CONFIG)
    second = Application(ARRAY_CONFIG)
    first.close()
    assert current_app() is second


def test_current_app_without_one_says_how_to_set_one() -> None:
    with pytest.raises(ConfigurationError, match=r"freight.Application\(config\).*make_current"):
        current_app()


class Recorded(Job):
    """Remembers the runs of the sync connection (module level: the payload names the class)."""

    runs: list[int] = []

    def handle(self) -> None:
        Recorded.runs.append(self.data["n"])


def test_job_dispatch_uses_the_current_application() -> None:
    with pytest.raises(ConfigurationError, match="no freight Application is current"):
        Recorded.dispatch(n=0)
    Application(ARRAY_CONFIG)  # the sync connection runs the job inside dispatch()
    Recorded.dispatch(n=1)
    other = Application({"queue": {"default": "sync"}, "cache": {"default": "array"}})
    other.make_current()
    Recorded.dispatch(n=2)
    assert Recorded.runs == [1, 2]


# -- loading an application for the command line ----------------------------------------------------
def write_module(directory: Path, name: str, body: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(body))
    sys.modules.pop(name, None)


def args(**kwargs: object) -> argparse.Namespace:
    return argparse.Namespace(**{"app": None, "config": None, **kwargs})


def test_load_app_from_an_application_attribute(tmp_path: Path) -> None:
    write_module(
        tmp_path,
        "appmod_attr",
        """
        from freight import Application, Job
        app = Application({"cache": {"default": "null"}})
    """,
    )
    loaded = load_app(args(app="appmod_attr:app"))
    assert loaded.config["cache"]["default"] == "null"
    assert current_app() is loaded
    assert str(tmp_path) in sys.path  # the current directory is importable


def test_load_app_from_a_factory(tmp_path: Path) -> None:
    write_module(
        tmp_path,
        "appmod_factory",
        """
        from freight import Application, Job
        def create_app():
            return Application({"cache": {"default": "array"}})
    """,
    )
    assert load_app(args(app="appmod_factory:create_app")).config["cache"]["default"] == "array"


def test_load_app_from_the_freight_app_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_module(
        tmp_path,
        "appmod_env",
        """
        from freight import Application, Job
        app = Application({"queue": {"default": "sync"}})
    """,
    )
    monkeypatch.setenv("FREIGHT_APP", "appmod_env:app")
    assert load_app(args()).config["queue"]["default"] == "sync"


def test_load_app_refuses_what_is_not_an_application(tmp_path: Path) -> None:
    write_module(tmp_path, "appmod_bad", "app = 42\n")
    with pytest.raises(FreightError, match="'appmod_bad:app' is not a freight Application"):
        load_app(args(app="appmod_bad:app"))
    with pytest.raises(ConfigurationError, match="cannot import module 'no_such_module_x'"):
        load_app(args(app="no_such_module_x:app"))


def test_load_app_from_config_then_discovery(tmp_path: Path) -> None:
    (tmp_path / "other.toml").write_text('[cache]\ndefault = "null"\n')
    assert load_app(args(config=str(tmp_path / "other.toml"))).config["cache"]["default"] == "null"
    assert load_app(args()).config["cache"]["default"] == "file"


WORKER_PROJECT = """
    from pathlib import Path
    from freight import Application, Job

    HERE = Path(__file__).resolve().parent
    OUT = HERE / "done.txt"
    DB = f"sqlite:///{HERE}/queue.sqlite3"

    app = Application({
        "cache": {"default": "array"},
        "queue": {
            "default": "database",
            "connections": {"database": {"url": DB}},
            "failed": {"driver": "database", "url": DB},
        },
    })

    class Note(Job):
        def handle(self) -> None:
            with OUT.open("a") as fh:
                fh.write(self.data["text"] + "\\n")
"""


def test_the_worker_runs_jobs_of_the_application_named_by_app(tmp_path: Path) -> None:
    write_module(tmp_path, "workerproj", WORKER_PROJECT)
    push = "import workerproj as w; w.Note.dispatch(text='one'); w.Note.dispatch(text='two')"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    subprocess.run([sys.executable, "-c", push], cwd=tmp_path, env=env, check=True, timeout=60)
    # from another directory: only --app tells the worker where the queue is
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "freight", "work", "--app", "workerproj:app", "--stop-when-empty"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "done.txt").read_text().splitlines() == ["one", "two"]
    assert "Note" in result.stderr  # one log line per job
    assert not (elsewhere / "storage").exists()  # the embedded defaults were not used


def test_an_application_is_a_context_manager_that_closes() -> None:
    with Application(ARRAY_CONFIG) as app:
        assert current_app() is app
        store = app.cache().store()
    assert Application.current() is None
    assert app.cache().store() is not store
