"""The sync driver: jobs run inside push with the worker's retry and failure rules."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
from jobs_fixture import CALLS, FAILED_HOOKS, Boom, BoomTwice, NeedsEmail, Noop, Pusher, SelfRelease, reset

from freight.app import Application
from freight.errors import PayloadError
from freight.queue.drivers.sync import SyncQueue
from freight.queue.manager import QueueManager


@pytest.fixture(autouse=True)
def _calls() -> Iterator[None]:
    reset()
    yield
    reset()


def sync_manager(**conn: object) -> QueueManager:
    return QueueManager(
        {
            "default": "sync",
            "connections": {"sync": {"driver": "sync", **conn}},
            "failed": {"driver": "redis", "client": fakeredis.FakeRedis()},
        }
    )


def test_push_runs_the_job_at_once_and_returns_its_id() -> None:
    """The job has run (attempt 1, with its id) when push returns; nothing stays queued."""
    manager = sync_manager()
    queue = manager.connection()
    assert isinstance(queue, SyncQueue) and not queue.persistent
    job_id = manager.push(Noop(n=1))
    assert CALLS == [("Noop", {"n": 1}, 1)]
    assert len(job_id) == 32 and manager.size() == 0 and manager.pop() is None


def test_retries_run_immediately_up_to_the_tries() -> None:
    """BoomTwice runs three times inside one push; the backoff is not slept."""
    sync_manager().push(BoomTwice())
    assert [c[2] for c in CALLS] == [1, 2, 3]


def test_a_job_that_fails_for_good_is_recorded_then_push_raises() -> None:
    """After its 3 tries: failed() once, a failed-store record, and push raises the last error."""
    manager = sync_manager()
    with pytest.raises(ValueError, match="boom on attempt 3"):
        manager.push(Boom())
    assert [c[2] for c in CALLS] == [1, 2, 3]
    assert FAILED_HOOKS == [("Boom", "ValueError: boom on attempt 3")]
    [record] = manager.failed().all()
    assert (record.connection, record.queue, record.job_class) == ("sync", "default", "jobs_fixture:Boom")


def test_raise_exceptions_false_only_records_the_failure() -> None:
    """With raise_exceptions = false, push returns normally after recording the failure."""
    manager = sync_manager(raise_exceptions=False)
    manager.push(Boom())
    assert len(manager.failed().all()) == 1


def test_later_and_self_release_run_again_without_waiting() -> None:
    """later() runs the job now; self.release(7) runs it again at once as attempt 2."""
    manager = sync_manager()
    manager.later(3600, Noop(n=1))
    manager.push(SelfRelease())
    assert CALLS == [("Noop", {"n": 1}, 1), ("SelfRelease", {}, 1), ("SelfRelease", {}, 2)]


def test_data_a_job_cannot_take_raises_payload_error() -> None:
    """A job whose __init__ rejects its data fails with PayloadError, recorded and raised."""
    manager = sync_manager()
    job = NeedsEmail(email="x")
    job.data = {"name": "x"}
    with pytest.raises(PayloadError, match="cannot be built"):
        manager.push(job)
    assert len(manager.failed().all()) == 1


def test_signed_connection_round_trips() -> None:
    """A sync connection with a key signs and verifies its own payloads."""
    sync_manager(key="secret-secret-secret").push(Noop(n=2))
    assert CALLS == [("Noop", {"n": 2}, 1)]


def test_a_job_dispatching_jobs_runs_them_nested() -> None:
    """Job.dispatch inside a sync job runs the new job before the outer one returns."""
    app = Application({"queue": {"default": "sync", "failed": {"driver": "null"}}})
    try:
        Pusher.dispatch({"queue": "default", "then": 2})  # a data field named like an option
    finally:
        app.close()
    assert [c[0] for c in CALLS] == ["Pusher", "Noop", "Noop"]
