"""Resolving a payload's job class (issue 12, items 3 and 16).

Whatever a job module raises while it is imported (``SystemExit``, ``KeyboardInterrupt``
and any other ``BaseException`` included) is contained: the job is released with its
backoff while it has tries, then failed with the reason, and the worker carries on. The
attempts check comes before the import, ``__main__`` modules are never imported, and a
worker whose jobs keep naming modules it cannot import stops with a clear message.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest
from jobs_fixture import CALLS, FakeClock, MemoryQueue, Noop, memory_manager, reset

from freight.errors import JobImportError, PayloadError
from freight.queue import payload as payloads
from freight.queue.manager import QueueManager
from freight.queue.worker import EXIT_IMPORT, EXIT_OK, Worker

#: module body -> what the failure reason names
RAISING_MODULES = {
    "raise SystemExit(0)": "SystemExit",
    "raise SystemExit(3)": "SystemExit",
    "raise KeyboardInterrupt": "KeyboardInterrupt",
    "raise GeneratorExit": "GeneratorExit",
    "class Odd(BaseException): pass\nraise Odd('boom')": "Odd",
    "raise RuntimeError('broken at import')": "RuntimeError",
    "import a_dependency_that_is_not_installed_xyz": "ModuleNotFoundError",
    "def f(:\n  pass": "SyntaxError",
    "def f(): return f()\nf()": "RecursionError",
}


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    reset()
    yield
    reset()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def modules(tmp_path: Path, unique: str) -> Iterator[dict[str, str]]:
    """One importable module per body in :data:`RAISING_MODULES`; each leaves a marker file
    when its import starts."""
    names: dict[str, str] = {}
    for i, body in enumerate(RAISING_MODULES):
        name = f"raising_{unique}_{i}"
        marker = tmp_path / f"{name}.imported"
        (tmp_path / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').close()\n{body}\n")
        names[body] = name
    sys.path.insert(0, str(tmp_path))
    yield names
    sys.path.remove(str(tmp_path))
    for name in names.values():
        sys.modules.pop(name, None)


def manager_on(clock: FakeClock) -> QueueManager:
    return memory_manager(clock, failed={"driver": "redis", "client": fakeredis.FakeRedis()})


def run(manager: QueueManager, clock: FakeClock, **options: object) -> Worker:
    worker = Worker(manager, clock=clock, sleep_fn=clock.sleep, rand=lambda: 0.5, memory=0, **options)  # type: ignore[arg-type]
    worker.run()
    return worker


def push_named(manager: QueueManager, job: str, **fields: object) -> str:
    body = {**payloads.build(Noop(), "default", 0.0), "job": job, **fields}
    manager.connection().push_raw(payloads.dumps(body), "default")
    return str(body["uuid"])


def test_anything_a_job_module_raises_on_import_is_contained(
    modules: dict[str, str], clock: FakeClock, tmp_path: Path
) -> None:
    """Each module is tried once per attempt, released with backoff, then failed with its
    reason; the good job after them runs and the worker exits normally."""
    manager = manager_on(clock)
    for name in modules.values():
        push_named(manager, f"{name}:Job", max_tries=2)
    manager.push(Noop(n=1))
    worker = run(manager, clock, max_jobs=2 * len(modules) + 1, max_import_failures=0)
    assert worker.exit_code == EXIT_OK
    assert CALLS == [("Noop", {"n": 1}, 1)]
    failed = {r.job_class.partition(":")[0]: r for r in manager.failed().all()}
    for body, name in modules.items():
        assert name in failed, f"{body!r}: not in the failed store"
        assert "JobImportError" in failed[name].exception and RAISING_MODULES[body] in failed[name].exception
    queue = manager.connection()
    assert isinstance(queue, MemoryQueue)
    assert queue.size() == 0
    assert len(queue.released()) == len(modules), "each was released once with its backoff first"
    assert all(delay > 0 for delay, _ in queue.released())


def test_the_attempts_check_comes_before_the_import(
    modules: dict[str, str], clock: FakeClock, tmp_path: Path
) -> None:
    """A job already over its tries (its module killed earlier workers) fails without being imported."""
    manager = manager_on(clock)
    name = modules["raise SystemExit(0)"]
    push_named(manager, f"{name}:Job", max_tries=1)
    queue = manager.connection()
    job = queue.pop()
    assert job is not None
    queue.release(job, 0)  # an earlier worker died importing it: attempt 1 is spent
    run(manager, clock, stop_when_empty=True)
    [record] = manager.failed().all()
    assert "MaxAttemptsExceededError" in record.exception
    assert not (tmp_path / f"{name}.imported").exists(), "the module was imported"


@pytest.mark.parametrize(
    "path",
    [
        "freight.__main__:Worker",
        "__main__:Job",
        "freight.__main__:main",
        "json.__init__:JSONDecoder",
        "os.path:__class__",
        "freight.queue.job:Job.__subclasses__",
        "not a module:Job",
        "../etc/passwd:Job",
        "freight..queue:Job",
    ],
)
def test_main_modules_and_names_that_are_not_identifiers_are_refused_unimported(path: str) -> None:
    sys.modules.pop("freight.__main__", None)
    with pytest.raises(PayloadError):
        payloads.resolve_job_class(path)
    assert "freight.__main__" not in sys.modules


def test_a_worker_that_cannot_import_its_jobs_releases_them_and_stops(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Started in the wrong directory: the jobs wait with their backoff (none is failed),
    and the worker stops with EXIT_IMPORT and says why."""
    manager = manager_on(clock)
    for i in range(5):
        push_named(manager, f"app_jobs_not_on_this_path_{i}:Job", max_tries=5)
    with caplog.at_level(logging.INFO, "freight.worker"):
        worker = run(manager, clock, max_import_failures=3)
    assert worker.exit_code == EXIT_IMPORT
    assert manager.failed().all() == []
    assert manager.connection().size() == 5
    assert "cannot import" in caplog.text and "directory" in caplog.text


def test_a_job_that_imports_resets_the_import_failure_count(clock: FakeClock) -> None:
    manager = manager_on(clock)
    for i in range(4):
        push_named(manager, f"missing_module_{i}:Job", max_tries=1)
        manager.push(Noop(n=i))
    worker = run(manager, clock, stop_when_empty=True, max_import_failures=2)
    assert worker.exit_code == EXIT_OK
    assert len(CALLS) == 4 and len(manager.failed().all()) == 4


def test_resolving_raises_job_import_error_naming_the_module() -> None:
    with pytest.raises(JobImportError, match="no_such_module_abc") as info:
        payloads.resolve_job_class("no_such_module_abc:Job")
    assert info.value.module == "no_such_module_abc"
