"""Importable jobs for the workflow tests (chains, batches, unique jobs, middleware).

In-process jobs record into :data:`RAN`; jobs for worker subprocesses append a line to
the file named by ``data['log']``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from freight.queue.job import Job
from freight.queue.middleware import RateLimited, Skip, ThrottlesExceptions, WithoutOverlapping

#: (job name, its ``n``) of every handle() call of an in-process job, in order
RAN: list[tuple[str, Any]] = []
#: ``self.batch()`` as each batch job saw it: (n, batch id, cancelled)
SEEN: list[tuple[Any, str, bool]] = []


class Step(Job):
    """Records itself."""

    def handle(self) -> None:
        RAN.append((type(self).__name__, self.data.get("n")))


class Broken(Step):
    """Records itself, then fails every time."""

    tries = 2
    backoff = 0

    def handle(self) -> None:
        super().handle()
        raise RuntimeError("broken step")


class BrokenUnique(Broken):
    """A unique job that fails for good."""

    unique = True


class Member(Step):
    """A batch member that records what ``self.batch()`` says."""

    def handle(self) -> None:
        super().handle()
        batch = self.batch()
        assert batch is not None
        SEEN.append((self.data.get("n"), batch.id, batch.cancelled))
        if self.data.get("grow"):
            batch.add([Member(n=f"added-{i}") for i in range(self.data["grow"])])


class FailingMember(Member):
    """A batch member that fails for good at once."""

    tries = 1

    def handle(self) -> None:
        super().handle()
        raise RuntimeError("member failed")


class Then(Step):
    """A batch's then job."""


class Catch(Step):
    """A catch job (chains and batches)."""


class Finally(Step):
    """A batch's finally job."""


class Recalc(Step):
    """A unique job per account."""

    unique = True
    unique_for = 60

    def unique_id(self) -> str:
        return str(self.data["account"])


class RecalcUntilProcessing(Recalc):
    """Unique only until it starts."""

    unique_until = "processing"


class Limited(Step):
    """At most 5 a minute."""

    tries = 1

    def middleware(self) -> list[Any]:
        return [RateLimited("api", per_minute=5)]


class Throttled(Step):
    """Fails while ``data['fail']``; two failures open the circuit for 60 s."""

    tries = 0
    backoff = 0

    def middleware(self) -> list[Any]:
        return [ThrottlesExceptions(2, 60)]

    def handle(self) -> None:
        super().handle()
        if self.data.get("fail"):
            raise RuntimeError("dependency down")


class Skipped(Step):
    """Skipped when ``data['skip']``."""

    def middleware(self) -> list[Any]:
        return [Skip.when(lambda job: job.data.get("skip")), Skip.unless(True)]


def tagging(job: Job, next: Any) -> Any:
    """A user-defined middleware: records around the job."""
    RAN.append(("before", job.data.get("n")))
    result = next(job)
    RAN.append(("after", job.data.get("n")))
    return result


class Wrapped(Step):
    """Runs through a plain callable middleware."""

    def middleware(self) -> list[Any]:
        return [tagging]


class Exclusive(Job):
    """Holds the overlap lock of its key for a moment; logs start/end with the pid."""

    tries = 0

    def middleware(self) -> list[Any]:
        return [WithoutOverlapping(self.data["key"], release_after=0.01)]

    def handle(self) -> None:
        with open(self.data["log"], "a") as log:
            log.write(f"start {self.data['n']} {time.time()!r}\n")
        time.sleep(0.02)
        with open(self.data["log"], "a") as log:
            log.write(f"end {self.data['n']} {time.time()!r}\n")


class Counted(Job):
    """A no-op batch member for the large batch test."""

    def handle(self) -> None:
        pass


class Logged(Job):
    """Appends ``name pid`` to ``data['log']``."""

    def handle(self) -> None:
        with open(self.data["log"], "a") as log:
            log.write(f"{self.data.get('name', type(self).__name__)} {os.getpid()}\n")


class SlowUnique(Job):
    """A unique job that sleeps long enough to be killed."""

    unique = True
    unique_for = 3
    tries = 5

    def unique_id(self) -> str:
        return "only"

    def handle(self) -> None:
        with open(self.data["log"], "a") as log:
            log.write(f"running {os.getpid()}\n")
        time.sleep(60)
