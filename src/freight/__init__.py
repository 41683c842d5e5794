"""freight: Laravel-style caching and background jobs for Python applications.

Public names are imported lazily, so ``import freight`` is cheap and needs no extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from freight.errors import (
    CacheConnectionError,
    CacheError,
    ConfigurationError,
    FreightError,
    InvalidKeyError,
    JobImportError,
    JobTimeoutError,
    LockTimeoutError,
    MaxAttemptsExceededError,
    MissingDependencyError,
    PayloadError,
    QueueConnectionError,
    QueueError,
    SerializationError,
)

if TYPE_CHECKING:
    from freight.app import Application
    from freight.cache.manager import CacheManager
    from freight.queue.batch import Batch
    from freight.queue.chain import Chain
    from freight.queue.job import Job
    from freight.queue.manager import QueueManager
    from freight.queue.worker import Worker

__version__ = "0.1.0"

__all__ = [
    "Application",
    "Batch",
    "CacheConnectionError",
    "CacheError",
    "CacheManager",
    "Chain",
    "ConfigurationError",
    "FreightError",
    "InvalidKeyError",
    "Job",
    "JobImportError",
    "JobTimeoutError",
    "LockTimeoutError",
    "MaxAttemptsExceededError",
    "MissingDependencyError",
    "PayloadError",
    "QueueConnectionError",
    "QueueError",
    "QueueManager",
    "SerializationError",
    "Worker",
    "__version__",
]

_LAZY = {
    "Application": "freight.app",
    "Batch": "freight.queue.batch",
    "Chain": "freight.queue.chain",
    "CacheManager": "freight.cache.manager",
    "Job": "freight.queue.job",
    "QueueManager": "freight.queue.manager",
    "Worker": "freight.queue.worker",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'freight' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
