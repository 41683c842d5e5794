"""Per-dispatch options (issue 12, item 11): ``Job.on_queue("high").delay(30).dispatch(...)``,
and option names given to ``dispatch()`` as keywords are refused instead of being stored
as job data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from jobs_fixture import Noop

from freight.app import Application
from freight.errors import ConfigurationError
from freight.queue.dispatch import RESERVED


@pytest.fixture
def app() -> Iterator[Application]:
    application = Application(
        {
            "queue": {
                "default": "mem",
                "connections": {"mem": {"driver": "memory"}, "other": {"driver": "memory"}},
                "failed": {"driver": "null"},
            }
        }
    )
    yield application
    application.close()


def only_job(app: Application, connection: str, queue: str) -> Any:
    job = app.queue().connection(connection).pop(queue)
    assert job is not None, f"nothing on {connection}:{queue}"
    return job


@pytest.mark.parametrize("name", sorted(RESERVED))
@pytest.mark.parametrize("how", ["dispatch", "dispatch_later", "pending"])
def test_option_names_given_as_keywords_are_refused(app: Application, name: str, how: str) -> None:
    if how == "dispatch_later" and name == "delay":  # Python itself refuses a second 'delay'
        with pytest.raises(TypeError):
            Noop.dispatch_later(5, **{name: "high"})
        return
    with pytest.raises(ConfigurationError, match=rf"{name}.*on_queue"):
        if how == "dispatch":
            Noop.dispatch(**{name: "high"})
        elif how == "dispatch_later":
            Noop.dispatch_later(5, **{name: "high"})
        else:
            Noop.on_queue("high").dispatch(**{name: "x"})
    assert app.queue().connection("mem").size("default") == 0


def test_on_queue_on_connection_and_delay_route_the_push(app: Application) -> None:
    clock = app.queue().connection("mem").clock
    job_id = Noop.on_queue("high").dispatch(n=1)
    reserved = only_job(app, "mem", "high")
    assert '"data":{"n":1}' in reserved.raw and job_id in reserved.raw
    Noop.on_connection("other").on_queue("low").dispatch({"n": 2})
    assert '"n":2' in only_job(app, "other", "low").raw
    Noop.on_queue("later").delay(dt.timedelta(seconds=30)).dispatch(n=3)
    assert app.queue().connection("mem").pop("later") is None, "a delayed job was ready at once"
    assert app.queue().connection("mem").size("later") == 1
    assert clock is not None


def test_a_data_field_named_like_an_option_goes_in_a_dict(app: Application) -> None:
    Noop.dispatch({"queue": "not an option", "delay": 5})
    reserved = only_job(app, "mem", "default")
    assert '"queue":"not an option"' in reserved.raw


@pytest.mark.parametrize("bad", ["", None, 3])
def test_a_queue_or_connection_name_must_be_a_string(app: Application, bad: Any) -> None:
    with pytest.raises(ConfigurationError):
        Noop.on_queue(bad)
    with pytest.raises(ConfigurationError):
        Noop.on_connection(bad)
