"""Job middleware: policies a job's ``handle()`` runs through (``Job.middleware()``).

One policy per module: :class:`RateLimited`, :class:`WithoutOverlapping`,
:class:`ThrottlesExceptions`, :class:`Skip`; any callable ``mw(job, next)`` works too.
A job a policy holds back goes back on its queue with a delay *without spending a try*
and without keeping a worker's prefetch slot (docs/workflows.md).
"""

from freight.queue.middleware.pipeline import Context, Middleware, current, hold_back
from freight.queue.middleware.rate_limited import RateLimited
from freight.queue.middleware.skip import Skip
from freight.queue.middleware.throttles_exceptions import ThrottlesExceptions
from freight.queue.middleware.without_overlapping import WithoutOverlapping

__all__ = [
    "Context",
    "Middleware",
    "RateLimited",
    "Skip",
    "ThrottlesExceptions",
    "WithoutOverlapping",
    "current",
    "hold_back",
]
