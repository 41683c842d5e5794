"""Failed-job stores: where a job goes when it has failed for good, and how it comes back.

A store records the raw payload with the exception (and its traceback), so
``python -m freight retry ID`` can push the very same job back on its original
connection and queue. Drivers: ``database`` (the default; :mod:`failed_database`),
``redis`` (:mod:`failed_redis`) and ``null`` (discards); a custom one is given as an
import path ``"package.module:factory"`` with ``factory(config, manager) -> store``.
"""

from __future__ import annotations

import json
import re
import time
import traceback
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from freight.errors import ConfigurationError, PayloadError
from freight.manager import Registry, clock_of, import_object
from freight.queue import payload as payloads

if TYPE_CHECKING:
    from freight.queue.manager import QueueManager

__all__ = [
    "FailedJob",
    "FailedJobStore",
    "NullFailedJobStore",
    "corrupt_record",
    "describe_exception",
    "record_id",
    "make_failed_store",
    "retry_failed",
    "retry_target",
]

#: the failed-job store drivers; a ``module:factory`` path also works without registering
DRIVERS: Registry[FailedJobStore] = Registry(
    "failed-job store driver",
    {
        "database": "freight.queue.failed_database:create",
        "redis": "freight.queue.failed_redis:create",
        "null": "freight.queue.failed:create_null",
    },
)


@dataclass(frozen=True, slots=True)
class FailedJob:
    """One failed job as a store keeps it."""

    id: str
    connection: str
    queue: str
    payload: str
    exception: str
    failed_at: float
    corrupt: str = ""
    """why the stored record cannot be read ("" for a sound one); corrupt ones are listed, never retried"""

    @property
    def job_class(self) -> str:
        """The ``module:QualName`` the payload names, or ``"?"`` when it cannot be read."""
        text = self.payload
        if text.startswith("sig:"):  # display only: the signature is checked when the job runs
            text = text.split(":", 2)[-1]
        try:
            name = json.loads(text).get("job")
        except (ValueError, AttributeError):
            return "?"
        return name if isinstance(name, str) else "?"

    @property
    def summary(self) -> str:
        """The last line of the exception text (``Type: message``)."""
        lines = [line for line in self.exception.strip().splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""


_UUID = re.compile(r"[0-9a-fA-F-]{8,36}")


def record_id(payload: str) -> str:
    """The id a failed record gets: the payload's uuid (what ``push`` returned and the worker
    logs) when it can be read, else a fresh uuid."""
    text = payload.split(":", 2)[-1] if payload.startswith("sig:") else payload
    try:
        found = json.loads(text).get("uuid")
    except (ValueError, AttributeError, RecursionError):
        found = None
    return found if isinstance(found, str) and _UUID.fullmatch(found) else str(uuid.uuid4())


def corrupt_record(id: str, stored: object, why: str) -> FailedJob:
    """A stored record that cannot be read, for listing (``failed``) and forgetting only."""
    shown = stored if isinstance(stored, str) else repr(stored)
    return FailedJob(str(id), "?", "?", shown[:10_000], "", 0.0, corrupt=why)


def describe_exception(exc: BaseException) -> str:
    """The exception as text: its traceback when it was raised, chained causes included."""
    return "".join(traceback.format_exception(exc)).rstrip()


class FailedJobStore(ABC):
    """Records failed jobs and lists, finds and forgets them."""

    driver = "abstract"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    @abstractmethod
    def log(self, connection: str, queue: str, payload: str, exc: BaseException) -> str:
        """Record a failed job under :func:`record_id` (replacing an older record of the same
        job); returns that id."""

    @abstractmethod
    def all(self) -> list[FailedJob]:
        """Every failed job, newest first."""

    @abstractmethod
    def find(self, id: str) -> FailedJob | None:
        """The failed job with ``id``, or None."""

    @abstractmethod
    def forget(self, id: str) -> bool:
        """Delete one failed job; False when there was none with ``id``."""

    @abstractmethod
    def flush(self) -> int:
        """Delete every failed job; returns how many there were."""

    def count(self) -> int:
        """How many failed jobs are recorded."""
        return len(self.all())

    def create_tables(self) -> None:
        """Create the store's tables when it has any (``python -m freight queue:table``)."""

    def close(self) -> None:
        """Release connections."""

    def new_id(self) -> str:
        """A fresh id for a record."""
        return str(uuid.uuid4())

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class NullFailedJobStore(FailedJobStore):
    """Discards failed jobs (they are still logged by the worker)."""

    driver = "null"

    def log(self, connection: str, queue: str, payload: str, exc: BaseException) -> str:
        """Discard the job; returns a fresh id."""
        return self.new_id()

    def all(self) -> list[FailedJob]:
        """Always empty."""
        return []

    def find(self, id: str) -> FailedJob | None:
        """Always None."""
        return None

    def forget(self, id: str) -> bool:
        """Always False."""
        return False

    def flush(self) -> int:
        """Always 0."""
        return 0


def create_null(config: dict[str, Any], manager: Any) -> NullFailedJobStore:
    """Factory of the ``null`` store."""
    return NullFailedJobStore(clock_of(config, manager))


def make_failed_store(config: dict[str, Any], manager: Any) -> FailedJobStore:
    """Build the store ``config['driver']`` names (a builtin or a ``module:factory`` path)."""
    driver = config.get("driver", "database")
    if not isinstance(driver, str) or not driver:
        raise ConfigurationError("queue.failed.driver must be a non-empty string")
    if ":" in driver and driver not in DRIVERS.names():
        factory = import_object(driver)
    else:
        factory = DRIVERS.factory(driver)
    store = factory(config, manager)
    if not isinstance(store, FailedJobStore):
        raise ConfigurationError(f"failed-job store factory {driver!r} did not return a FailedJobStore")
    return store


def retry_target(manager: QueueManager, name: str) -> str:
    """The connection a retried job goes to: ``name``, unless it runs jobs in-process (``sync``,
    whose retry would run the job inside the CLI): then the default connection, else the first
    configured one that keeps jobs; :class:`ConfigurationError` when there is none."""
    if manager.connection(name).persistent:
        return name
    for candidate in [manager.default_name(), *manager.names()]:
        if manager.connection(candidate).persistent:
            return candidate
    raise ConfigurationError(
        f"connection {name!r} runs jobs in-process and no other configured connection keeps jobs; "
        "configure a redis or database connection, or pass --connection"
    )


def retry_failed(
    manager: QueueManager, record: FailedJob, now: float | None = None, *, connection: str | None = None
) -> str:
    """Push a failed job back, as a fresh job (attempts start over), on ``connection`` (default:
    its own, or :func:`retry_target` for ``sync``) and its queue; returns the connection's name.

    A payload with ``retry_until`` gets a new deadline as far from now as it was from its
    creation; a payload that cannot be decoded (or verified) is pushed back unchanged.
    """
    target = connection or retry_target(manager, record.connection)
    queue = manager.connection(target)
    origin = queue
    if record.connection != target and record.connection in manager.names():
        origin = manager.connection(record.connection)  # its key verifies the stored payload
    now = queue.clock() if now is None else now
    raw = record.payload
    try:
        data = payloads.loads(raw, origin.signer)
        if data.get("retry_until") is not None and data.get("created_at") is not None:
            data["retry_until"] = now + (float(data["retry_until"]) - float(data["created_at"]))
    except (PayloadError, TypeError, ValueError):
        if origin is not queue and origin.signer is not None:
            raise PayloadError(
                f"failed job {record.id} cannot be verified with connection {record.connection!r}'s key"
            ) from None
    else:
        data.pop("attempts", None)  # written by freight before 0.2, never read
        data["created_at"] = now
        raw = payloads.dumps(data, queue.signer)
    queue.push_raw(raw, record.queue, 0)
    return target
