"""Django Tasks through ``FreightTasks``: ``@task`` functions enqueued with Django's task API and
run by a freight worker (in-process, and ``manage.py freight work --stop-when-empty`` in a
subprocess); results and status read back through Django's API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

try:
    from django.tasks import TaskResultStatus, default_task_backend  # Django 6
except ImportError:
    from django_tasks import TaskResultStatus, default_task_backend  # the backport (Django 5.2)
from shop.tasks import add, boom, slow_double

from conftest import HERE
from freight.contrib.django.app import freight_app
from freight.queue.worker import Worker

SRC = HERE.parents[2] / "src"


def work() -> int:
    return Worker(freight_app(), stop_when_empty=True, memory=0, sleep=0.05).run()


def test_a_task_is_enqueued_then_run_by_a_freight_worker() -> None:
    result = add.enqueue(2, 3)
    assert result.status == TaskResultStatus.READY and result.backend == "default"
    assert default_task_backend.get_result(result.id).status == TaskResultStatus.READY
    assert work() == 0
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5 and result.is_finished
    assert result.started_at and result.finished_at and result.enqueued_at
    assert len(result.worker_ids) == 1 and result.attempts == 1


def test_a_failing_task_is_failed_with_its_error() -> None:
    result = boom.enqueue()
    work()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class is ValueError and "boom" in error.traceback
    assert any(r.job_class.endswith("RunTask") for r in freight_app().queue().failed().all())


def test_async_tasks_and_aenqueue() -> None:
    import asyncio

    async def enqueue() -> str:
        return str((await slow_double.aenqueue(21)).id)

    result_id = asyncio.run(enqueue())
    work()
    assert default_task_backend.get_result(result_id).return_value == 42


def test_manage_py_freight_work_runs_enqueued_tasks(django_workdir: Path) -> None:
    results = [add.enqueue(i, i) for i in range(3)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FREIGHT_", "PYTEST_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="djproject.settings",
        DJANGO_TEST_WORKDIR=str(django_workdir),
        PYTHONPATH=os.pathsep.join([str(HERE / "project"), str(SRC)]),
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "freight", "work", "--stop-when-empty", "--sleep", "0.1"],
        cwd=HERE / "project",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for i, result in enumerate(results):
        result.refresh()
        assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 2 * i
    assert freight_app().queue().size() == 0
    size = subprocess.run(
        [sys.executable, "manage.py", "freight", "size"],
        cwd=HERE / "project",
        env=env,
        capture_output=True,
        text=True,
    )
    assert size.returncode == 0 and "0" in size.stdout, size.stdout + size.stderr
