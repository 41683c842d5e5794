"""Django integration: the ``FreightCache`` backend, the ``FreightTasks`` backend and
``manage.py freight`` (add ``"freight.contrib.django"`` to ``INSTALLED_APPS``).

Install with ``pip install "freight[django]"``; docs/django.md has the settings.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FreightCache", "FreightTasks"]


def __getattr__(name: str) -> Any:
    # each backend imports only its own part of Django (and the tasks backport) when named
    if name == "FreightCache":
        from freight.contrib.django.cache import FreightCache

        return FreightCache
    if name == "FreightTasks":
        from freight.contrib.django.tasks import FreightTasks

        return FreightTasks
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
