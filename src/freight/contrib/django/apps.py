"""The Django app config: ``INSTALLED_APPS = [..., "freight.contrib.django"]`` adds ``manage.py freight``."""

from __future__ import annotations

from django.apps import AppConfig


class FreightConfig(AppConfig):
    """freight's Django app (management commands only; no models)."""

    name = "freight.contrib.django"
    label = "freight"
    verbose_name = "freight"
