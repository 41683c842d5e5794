"""Worker options and limits (issue 12, items 8 and 12): bad option values are refused
with the option named, ``--max-time`` stops an idle worker, ``retry_after`` must be
finite, and a job that forks and returns in the child makes the child exit."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from jobs_fixture import FakeClock, Noop, memory_manager

from freight.errors import ConfigurationError
from freight.queue.job import Job
from freight.queue.worker import EXIT_OK, Worker

BAD_OPTIONS: list[tuple[str, Any]] = [
    ("sleep", -1),
    ("sleep", float("inf")),
    ("sleep", float("nan")),
    ("sleep", "3"),
    ("tries", -1),
    ("tries", 1.5),
    ("tries", True),
    ("timeout", -0.5),
    ("timeout", float("inf")),
    ("max_jobs", -1),
    ("max_time", -1),
    ("max_time", float("nan")),
    ("memory", -1),
    ("grace", -1),
    ("prefetch", 0),
    ("prefetch", 2.5),
    ("max_import_failures", -3),
]


@pytest.mark.parametrize(("name", "value"), BAD_OPTIONS, ids=lambda v: repr(v))
def test_bad_worker_options_are_refused_naming_the_option(name: str, value: Any) -> None:
    flag = "--" + name.replace("_", "-")
    with pytest.raises(ConfigurationError, match=flag):
        Worker(memory_manager(FakeClock()), **{name: value})


@pytest.mark.parametrize(
    "argv", [["--sleep", "-1"], ["--tries", "-1"], ["--max-time", "nan"], ["--timeout", "inf"]]
)
def test_the_cli_refuses_bad_worker_options(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from freight.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["work", *argv, "--config", "/nonexistent-so-it-never-runs.toml"])
    assert exit_info.value.code == 2  # a usage error, before any configuration is read
    assert argv[0] in capsys.readouterr().err


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 0, -5, True, "90"])
def test_retry_after_must_be_positive_and_finite(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="retry_after"):
        memory_manager(FakeClock(), retry_after=value).connection()


def test_max_time_stops_an_idle_worker() -> None:
    clock = FakeClock()
    worker = Worker(memory_manager(clock), clock=clock, sleep_fn=clock.sleep, memory=0, max_time=10, sleep=3)
    assert worker.run() == EXIT_OK
    assert worker.stop_reason == "--max-time 10s reached"
    assert 10 <= clock.now - 1_000_000.0 <= 10.001, "it stopped at --max-time, not a --sleep later"


class ForkAndReturn(Job):
    """Forks; the child returns from handle() as if it were the parent."""

    def handle(self) -> None:
        pid = os.fork()
        if pid == 0:
            Path(self.data["dir"], f"child-{os.getpid()}").write_text("returned")
            return
        Path(self.data["dir"], "parent").write_text(str(pid))


class Mark(Job):
    def handle(self) -> None:
        Path(self.data["dir"], f"mark-{os.getpid()}").write_text("ran")


def test_a_job_that_forks_and_returns_in_the_child_makes_the_child_exit(tmp_path: Path) -> None:
    clock = FakeClock()
    manager = memory_manager(clock)
    manager.push(ForkAndReturn(dir=str(tmp_path)))
    manager.push(Mark(dir=str(tmp_path)))
    worker = Worker(manager, clock=clock, sleep_fn=clock.sleep, memory=0, stop_when_empty=True)
    assert worker.run() == EXIT_OK
    child = int((tmp_path / "parent").read_text())
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (tmp_path / f"child-{child}").exists()
    marks = sorted(p.name for p in tmp_path.glob("mark-*"))
    assert marks == [f"mark-{os.getpid()}"], "the forked child ran the next job"


def test_noop_still_runs_with_valid_options() -> None:
    clock = FakeClock()
    manager = memory_manager(clock)
    manager.push(Noop())
    assert (
        Worker(manager, clock=clock, sleep_fn=clock.sleep, memory=0, stop_when_empty=True, prefetch=1).run()
        == 0
    )
