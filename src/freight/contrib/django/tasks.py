"""``FreightTasks``: a Django Tasks backend (Django 6's ``django.tasks``, or the ``django-tasks``
backport on Django 5.2) that enqueues ``@task`` functions as freight jobs.

    TASKS = {"default": {"BACKEND": "freight.contrib.django.FreightTasks",
                         "QUEUES": ["default"],
                         "OPTIONS": {"connection": None, "results": None, "result_ttl": 86400}}}

``enqueue()`` pushes a :class:`RunTask` job on the freight connection ``connection``
(default: the default one), on the queue named by the task's ``queue_name``, delayed to
``run_after`` when set; ``python -m freight work`` (or ``manage.py freight work``) runs
it. Results live in the freight cache store ``results`` (default: the default store) for
``result_ttl`` seconds: ``get_result(id)`` and ``TaskResult.refresh()`` read status,
timestamps, return value, errors and worker ids from there. A task that raises is
``FAILED`` (with its exception class and traceback) and its job is recorded in freight's
failed-job store; Django tasks are not retried (``OPTIONS["tries"]`` to change that).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import traceback
import uuid
from typing import Any

from django.utils import timezone
from django.utils.module_loading import import_string

from freight.contrib.django.app import freight_app
from freight.queue.job import Job

try:  # Django 6
    from django.tasks import task_backends
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import TaskContext, TaskError, TaskResult, TaskResultStatus
    from django.tasks.exceptions import TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
except ImportError:  # the django-tasks backport (Django 5.2)
    from django_tasks import task_backends
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import TaskContext, TaskError, TaskResult, TaskResultStatus
    from django_tasks.exceptions import TaskResultDoesNotExist
    from django_tasks.signals import task_enqueued, task_finished, task_started

__all__ = ["FreightTasks", "RunTask"]

RESULT_TTL = 86_400


def _path(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _stamp(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


class FreightTasks(BaseTaskBackend):
    """Django Tasks on freight's queue (see the module docstring)."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = False

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.connection: str | None = self.options.get("connection")
        self.results: str | None = self.options.get("results")
        self.result_ttl = float(self.options.get("result_ttl", RESULT_TTL))
        self.tries = int(self.options.get("tries", 1))

    # -- results ------------------------------------------------------------------------
    def _key(self, result_id: str) -> str:
        return f"freight:django-task:{self.alias}:{result_id}"

    def save(self, record: dict[str, Any]) -> None:
        """Store a result record."""
        freight_app().cache().store(self.results).put(self._key(record["id"]), record, self.result_ttl)

    def load(self, result_id: str) -> dict[str, Any] | None:
        """The stored record of ``result_id``, or None."""
        found: dict[str, Any] | None = freight_app().cache().store(self.results).get(self._key(result_id))
        return found

    # -- the backend API ----------------------------------------------------------------
    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        """Push the task as a freight job; its TaskResult is READY."""
        self.validate_task(task)
        result = TaskResult(
            task=task,
            id=uuid.uuid4().hex,
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        object.__setattr__(result, "enqueued_at", timezone.now())
        record = _record(result)
        self.save(record)
        job = RunTask(record=record)
        job.queue, job.tries = task.queue_name, self.tries
        queue = freight_app().queue().connection(self.connection)
        if task.run_after is not None:
            queue.later(task.run_after, job)
        else:
            queue.push(job)
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> Any:
        """The TaskResult as the worker last wrote it."""
        record = self.load(result_id)
        if record is None:
            raise TaskResultDoesNotExist(result_id)
        return _result(record)


def _record(result: Any) -> dict[str, Any]:
    """A TaskResult as a JSON-friendly dict (what the cache stores and the job carries)."""
    return {
        "id": result.id,
        "task": _path(result.task.func),
        "backend": result.backend,
        "queue_name": result.task.queue_name,
        "priority": result.task.priority,
        "takes_context": result.task.takes_context,
        "status": str(result.status),
        "enqueued_at": _stamp(result.enqueued_at),
        "started_at": _stamp(result.started_at),
        "last_attempted_at": _stamp(result.last_attempted_at),
        "finished_at": _stamp(result.finished_at),
        "args": list(result.args),
        "kwargs": dict(result.kwargs),
        "errors": [
            {"exception_class_path": e.exception_class_path, "traceback": e.traceback} for e in result.errors
        ],
        "worker_ids": list(result.worker_ids),
        "return_value": getattr(result, "_return_value", None),
    }


def _result(record: dict[str, Any]) -> Any:
    """A TaskResult from a stored record."""
    task = import_string(record["task"])
    task = task.using(queue_name=record["queue_name"], backend=record["backend"])
    result = TaskResult(
        task=task,
        id=record["id"],
        status=TaskResultStatus(record["status"]),
        enqueued_at=_time(record["enqueued_at"]),
        started_at=_time(record["started_at"]),
        last_attempted_at=_time(record["last_attempted_at"]),
        finished_at=_time(record["finished_at"]),
        args=record["args"],
        kwargs=record["kwargs"],
        backend=record["backend"],
        errors=[TaskError(**e) for e in record["errors"]],
        worker_ids=record["worker_ids"],
    )
    object.__setattr__(result, "_return_value", record["return_value"])
    return result


class RunTask(Job):
    """The freight job that runs one enqueued Django task and records its result."""

    tries = 1

    def handle(self) -> None:
        backend: FreightTasks = task_backends[self.data["record"]["backend"]]
        record = backend.load(self.data["record"]["id"]) or dict(self.data["record"])
        result = _result(record)
        now = timezone.now()
        object.__setattr__(result, "status", TaskResultStatus.RUNNING)
        object.__setattr__(result, "started_at", result.started_at or now)
        object.__setattr__(result, "last_attempted_at", now)
        result.worker_ids.append(f"{socket.gethostname()}:{os.getpid()}")
        backend.save(_record(result))
        task_started.send(type(backend), task_result=result)
        try:
            if result.task.takes_context:
                value = result.task.call(TaskContext(task_result=result), *result.args, **result.kwargs)
            else:
                value = result.task.call(*result.args, **result.kwargs)
        except Exception as exc:
            object.__setattr__(result, "finished_at", timezone.now())
            result.errors.append(
                TaskError(
                    exception_class_path=_path(type(exc)), traceback="".join(traceback.format_exception(exc))
                )
            )
            object.__setattr__(result, "status", TaskResultStatus.FAILED)
            backend.save(_record(result))
            task_finished.send(type(backend), task_result=result)
            raise
        object.__setattr__(result, "_return_value", json.loads(json.dumps(value)))  # as JSON reads it
        object.__setattr__(result, "finished_at", timezone.now())
        object.__setattr__(result, "status", TaskResultStatus.SUCCESSFUL)
        backend.save(_record(result))
        task_finished.send(type(backend), task_result=result)
