"""Mistakes caught at push time rather than in the worker."""

from __future__ import annotations

import pytest
from jobs_fixture import MemoryQueue

from freight.errors import PayloadError
from freight.queue.drivers.base import Queue
from freight.queue.job import Job


def test_a_job_class_from_the_running_script_is_refused_at_push() -> None:
    script_job = type("ScriptJob", (Job,), {"__module__": "__main__", "handle": lambda self: None})
    queue = MemoryQueue()
    with pytest.raises(PayloadError, match="cannot import; move it into an importable module"):
        queue.push(script_job())
    assert queue.size() == 0


def test_a_driver_must_implement_pop_or_pop_many() -> None:
    class Neither(MemoryQueue):
        pop = Queue.pop  # type: ignore[assignment]
        pop_many = Queue.pop_many  # type: ignore[assignment]

    with pytest.raises(NotImplementedError, match="must implement pop\\(\\) or pop_many\\(\\)"):
        Neither().pop()
    with pytest.raises(NotImplementedError):
        Neither().pop_many(limit=2)
