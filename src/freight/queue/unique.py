"""Unique jobs: a cache lock taken at push, released when the job is done, fails, or expires.

A job class with ``unique = True`` takes the lock ``unique:<module:Class>:<unique_id()>``
for ``unique_for`` seconds when pushed; if another owner holds it, the push is dropped
and returns None. The lock's owner token travels in the payload, so the worker releases
exactly that lock (never another owner's): after the job succeeded or failed for good
(``unique_until = "done"``), or just before ``handle()`` runs (``"processing"``). A
release for a retry keeps it. Because the lock expires after ``unique_for`` whatever
happens, a worker killed mid-job (SIGKILL) can never leave it stuck.

Locks live in the cache store named by ``unique_via`` (of the current Application), by
default in a store on the connection's own backend (:meth:`Queue.cache_config`).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from freight.cache.manager import CacheManager
from freight.current import current_app
from freight.errors import ConfigurationError
from freight.queue.payload import job_path

if TYPE_CHECKING:
    from freight.cache.repository import Repository
    from freight.queue.drivers.base import Queue
    from freight.queue.job import Job

__all__ = ["claim", "connection_cache", "release"]

UNTIL = ("done", "processing")
_caches: weakref.WeakKeyDictionary[Queue, CacheManager] = weakref.WeakKeyDictionary()


def connection_cache(queue: Queue, via: str | None = None) -> Repository:
    """The cache store ``via`` of the current Application, or (None) one on ``queue``'s backend."""
    if via:
        return current_app().cache().store(via)
    manager = _caches.get(queue)
    if manager is None:
        config = {"default": "locks", "stores": {"locks": queue.cache_config()}}
        manager = _caches[queue] = CacheManager(config, clock=queue.clock)
    return manager.store()


def claim(queue: Queue, job: Job) -> dict[str, Any] | None:
    """Take ``job``'s unique lock; the payload field that lets the worker release it, or None
    when another push holds it."""
    if job.unique_until not in UNTIL:
        raise ConfigurationError(
            f"{type(job).__qualname__}.unique_until must be 'done' or 'processing', not {job.unique_until!r}"
        )
    if not job.unique_for or job.unique_for <= 0:
        raise ConfigurationError(
            f"{type(job).__qualname__}.unique_for must be positive seconds (a lock without expiry "
            "could stay stuck forever)"
        )
    key = f"unique:{job_path(type(job))}:{job.unique_id()}"
    lock = connection_cache(queue, job.unique_via).lock(key, job.unique_for)
    if not lock.acquire():
        return None
    return {"key": key, "owner": lock.owner, "until": job.unique_until, "via": job.unique_via}


def release(queue: Queue, held: dict[str, Any]) -> bool:
    """Release the lock described by a payload's ``unique`` field, if its owner still holds it."""
    cache = connection_cache(queue, held.get("via"))
    return cache.restore_lock(str(held["key"]), str(held["owner"])).release()
