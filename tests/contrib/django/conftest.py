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

os.environ["DJANGO_TEST_WORKDIR"] = str(WORKDIR)  # the project's settings (and its worker) use it
if not settings.configured:
    from djproject import settings as project

    options = {name: getattr(project, name) for name in dir(project) if name.isupper()}
    options["INSTALLED_APPS"] = [*options["INSTALLED_APPS"], "cache_app"]
    options["CACHES"] = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.configure(**options)
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
