"""``Skip.when(...)`` / ``Skip.unless(...)``: drop a job without running it (it counts as done)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from freight.queue.job import Job

__all__ = ["Skip"]

Condition = bool | Callable[["Job"], Any]


class Skip:
    """Skip the job when a condition holds (a bool, or a callable given the job)."""

    def __init__(self, condition: Condition, *, negate: bool = False) -> None:
        self.condition = condition
        self.negate = negate

    @classmethod
    def when(cls, condition: Condition) -> Skip:
        """Skip when ``condition`` is true."""
        return cls(condition)

    @classmethod
    def unless(cls, condition: Condition) -> Skip:
        """Skip unless ``condition`` is true."""
        return cls(condition, negate=True)

    def __call__(self, job: Job, next: Callable[[Job], Any]) -> Any:
        """Run the job, or not."""
        value = self.condition(job) if callable(self.condition) else self.condition
        if bool(value) != self.negate:
            return None
        return next(job)
