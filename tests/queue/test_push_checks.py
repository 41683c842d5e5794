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


def test_a_driver_must_implement_pop_many_and_gets_pop_from_it() -> None:
    """pop_many is the reservation primitive (a driver without it cannot be built); pop derives."""
    assert "pop_many" in Queue.__abstractmethods__ and "pop" not in Queue.__abstractmethods__
    queue = MemoryQueue()
    queue.push_raw("x", "default")
    job = queue.pop()
    assert job is not None and job.raw == "x" and queue.pop() is None
