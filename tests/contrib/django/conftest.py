"""Django for the integration tests: settings configured once per process, the vendored cache
test app's table created, and a freight configuration (``settings.FREIGHT``) on SQLite.

The store URLs come from the same environment variables as the rest of the suite
(``FREIGHT_TEST_REDIS_URL``, ``FREIGHT_TEST_POSTGRES_URL``), read here because Django's
test classes name their caches when they are defined.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import django
import pytest
from django.conf import settings

HERE = Path(__file__).resolve().parent
WORKDIR = Path(tempfile.mkdtemp(prefix="freight-django-"))
REDIS_URL = os.environ.get("FREIGHT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "FREIGHT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

if str(HERE / "project") not in sys.path:
    sys.path.insert(0, str(HERE / "project"))

if not settings.configured:
    settings.configure(
        SECRET_KEY="freight-tests-" + "x" * 40,
        INSTALLED_APPS=["django.contrib.contenttypes", "django_tasks", "cache_app", "freight.contrib.django"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(WORKDIR / "db.sqlite3")}},
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        USE_TZ=True,
        TASKS={"default": {"BACKEND": "freight.contrib.django.FreightTasks"}},
        FREIGHT={
            "cache": {
                "default": "file",
                "stores": {"file": {"driver": "file", "path": str(WORKDIR / "cache")}},
            },
            "queue": {
                "default": "database",
                "connections": {
                    "database": {"driver": "database", "url": f"sqlite:///{WORKDIR}/queue.sqlite3"}
                },
                "failed": {"driver": "database", "url": f"sqlite:///{WORKDIR}/queue.sqlite3"},
            },
        },
    )
    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()  # as Django's runner does: ALLOWED_HOSTS, the locmem mail outbox
    from cache_app.models import Poll
    from django.db import connection

    with connection.schema_editor() as editor:
        editor.create_model(Poll)


@pytest.fixture(scope="session")
def django_workdir() -> Path:
    """The directory holding the test project's SQLite files."""
    return WORKDIR
