"""``python -m freight about`` and the worker's first log lines (issue 12, item 9)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from freight.app import Application
from freight.cli import main


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "freight.toml").write_text(
        '[cache]\ndefault = "array"\n[cache.stores.dead]\ndriver = "redis"\nurl = "redis://127.0.0.1:9/0"\n'
        "socket_connect_timeout = 1\n"
    )
    old = os.getcwd()
    (tmp_path / "src" / "app").mkdir(parents=True)
    os.chdir(tmp_path / "src" / "app")
    yield tmp_path
    os.chdir(old)
    app = Application.current()
    if app is not None:
        app.close()


def test_about_shows_the_source_addresses_and_what_is_unreachable(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["about"])
    out = capsys.readouterr().out
    assert code == 1, "an unreachable store makes about exit 1"
    assert f"config: {project.resolve() / 'freight.toml'}" in out
    assert "dead: redis://127.0.0.1:9/0 [UNREACHABLE" in out
    assert f"database: database sqlite:///{project.resolve()}/storage/queue.sqlite3" in out
    assert "array: array" in out and "[reachable]" in out


def test_about_without_checks_contacts_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["about", "--no-check"]) == 0
    assert "not checked" in capsys.readouterr().out


def test_a_worker_logs_its_config_source_and_addresses(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, "freight.worker"):
        assert main(["work", "--stop-when-empty", "--sleep", "0", "--memory", "0"]) == 0
    text = caplog.text
    assert f"config: {project.resolve() / 'freight.toml'}" in text
    assert f"connection database: database sqlite:///{project.resolve()}/storage/queue.sqlite3" in text
    assert "failed jobs: <DatabaseFailedJobStore" in text
