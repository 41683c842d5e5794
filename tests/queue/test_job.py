"""The Job base class: data, class options and their validation, dispatch through the current app."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from jobs_fixture import Emails, MemoryQueue, NeedsEmail, Noop, memory_factory

from freight.app import Application
from freight.errors import ConfigurationError, PayloadError
from freight.queue import payload as payloads
from freight.queue.job import Job


@pytest.fixture
def app() -> Iterator[Application]:
    """A current Application whose queue connections ``mem`` (default) and ``other`` are in memory."""
    application = Application(
        {
            "queue": {
                "default": "mem",
                "connections": {"mem": {"driver": "memory"}, "other": {"driver": "memory", "queue": "low"}},
                "failed": {"driver": "null"},
            },
        }
    )
    application.queue().extend("memory", memory_factory())
    yield application
    application.close()


def test_data_merges_the_mapping_and_keyword_arguments() -> None:
    """Job(data, **kwargs) keeps one dict; get_data() returns it."""
    job = Noop({"a": 1}, b=2)
    assert job.data == {"a": 1, "b": 2}
    assert job.get_data() is job.data
    assert Noop().data == {}
    assert Noop(email="x").data == {"email": "x"}


def test_data_must_be_a_mapping() -> None:
    """A list or string as data is a TypeError at construction."""
    with pytest.raises(TypeError, match="mapping"):
        Noop(["a"])  # type: ignore[arg-type]


def test_defaults_defer_to_the_worker() -> None:
    """tries, backoff and timeout default to None: the worker's options, else 3 / exponential / 60."""
    assert (Job.tries, Job.backoff, Job.timeout, Job.retry_until, Job.delay) == (None,) * 5


def test_handle_must_be_implemented() -> None:
    """The base handle() raises NotImplementedError naming the class."""

    class Bare(Job):
        pass

    with pytest.raises(NotImplementedError, match="Bare"):
        Bare().handle()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("tries", -1),
        ("tries", 2.5),
        ("tries", True),
        ("timeout", -3),
        ("timeout", "60"),
        ("backoff", [1, -1]),
        ("backoff", "1,2"),
    ],
)
def test_invalid_class_options_fail_at_class_definition(option: str, value: object) -> None:
    """A bad option is a ConfigurationError when the class is defined, not in the worker."""
    with pytest.raises(ConfigurationError, match=option):
        type("Bad", (Job,), {option: value})


def test_a_lambda_backoff_in_a_class_body_takes_the_attempt() -> None:
    """``backoff = lambda attempt: ...`` is not turned into a method receiving self."""

    class Lambda(Job):
        backoff = lambda attempt: attempt * 2  # noqa: E731

    class Method(Job):
        def backoff(self, attempt: int) -> float:  # type: ignore[override]
            return attempt * 3.0

    assert Lambda().backoff(4) == 8  # type: ignore[operator, misc]
    assert Method().backoff(4) == 12.0  # type: ignore[operator, call-arg]


def test_retry_until_accepts_seconds_timedelta_and_datetime() -> None:
    """retry_until_timestamp(now) is absolute: now + seconds, now + timedelta, or the datetime itself."""
    job = Noop()
    assert job.retry_until_timestamp(100.0) is None
    job.retry_until = 30
    assert job.retry_until_timestamp(100.0) == 130.0
    job.retry_until = dt.timedelta(minutes=1)
    assert job.retry_until_timestamp(100.0) == 160.0
    when = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    job.retry_until = when
    assert job.retry_until_timestamp(100.0) == when.timestamp()


def test_from_data_passes_keywords_to_a_custom_init() -> None:
    """A job with its own __init__ is rebuilt from keyword arguments; a plain job from the dict."""
    assert NeedsEmail.from_data({"email": "a@example.com"}).data == {"email": "a@example.com"}
    assert Noop.from_data({"data": 1, "x": 2}).data == {"data": 1, "x": 2}
    with pytest.raises(TypeError):
        NeedsEmail.from_data({})


def test_release_and_fail_only_record_intent() -> None:
    """release() and fail() outside a worker just mark the job."""
    job = Noop()
    job.release(7)
    job.fail()
    assert job._released == 7
    assert "marked itself as failed" in str(job._failure)


def test_unencodable_data_fails_at_push(app: Application) -> None:
    """Data the codec cannot encode raises PayloadError naming the job class, at push time."""
    with pytest.raises(PayloadError, match="Noop"):
        app.queue().push(Noop(handle=object()))
    assert app.queue().size() == 0


def test_dispatch_pushes_through_the_current_app(app: Application) -> None:
    """dispatch(**kwargs) builds the job and pushes it on the default connection; returns its id."""
    job_id = Noop.dispatch(user=7)
    queue = app.queue().connection("mem")
    reserved = queue.pop()
    assert reserved is not None
    body = payloads.loads(reserved.raw)
    assert (body["uuid"], body["job"], body["data"]) == (job_id, "jobs_fixture:Noop", {"user": 7})


def test_dispatch_uses_the_jobs_own_connection_queue_and_delay(app: Application) -> None:
    """A job's connection, queue and delay class options route dispatch()."""
    Emails.dispatch({"to": "a@example.com"})
    queue = app.queue().connection("mem")
    assert isinstance(queue, MemoryQueue)
    [row] = queue.rows.values()
    assert row.queue == "emails"
    assert row.available_at == pytest.approx(queue.clock() + 5, abs=1)


def test_dispatch_later_delays_the_job(app: Application) -> None:
    """dispatch_later(delay, data) pushes with the delay on the job's connection."""

    class OnOther(Noop):
        connection = "other"

    OnOther.dispatch_later(dt.timedelta(seconds=60), {"n": 1})
    queue = app.queue().connection("other")
    assert isinstance(queue, MemoryQueue)
    [row] = queue.rows.values()
    assert row.queue == "low"
    assert row.available_at == pytest.approx(queue.clock() + 60, abs=1)
    assert queue.pop("low") is None


def test_dispatch_without_a_current_app_says_how_to_make_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no Application the error explains how to create one."""
    monkeypatch.setattr("freight.current._current", None)
    with pytest.raises(ConfigurationError, match="Application"):
        Noop.dispatch()
