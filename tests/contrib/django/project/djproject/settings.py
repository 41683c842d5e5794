"""Settings of the test Django project: freight's cache, queue and tasks on SQLite files in
``$DJANGO_TEST_WORKDIR`` (the tests and the worker subprocess share them)."""

import os
import tempfile

WORKDIR = os.environ.setdefault("DJANGO_TEST_WORKDIR", tempfile.mkdtemp(prefix="freight-django-"))

SECRET_KEY = "freight-tests-" + "x" * 40
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django_tasks", "freight.contrib.django", "shop"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(WORKDIR, "db.sqlite3")}}
CACHES = {
    "default": {
        "BACKEND": "freight.contrib.django.FreightCache",
        "LOCATION": os.path.join(WORKDIR, "djcache"),
    }
}
TASKS = {"default": {"BACKEND": "freight.contrib.django.FreightTasks"}}
FREIGHT = {
    "cache": {
        "default": "file",
        "stores": {"file": {"driver": "file", "path": os.path.join(WORKDIR, "cache")}},
    },
    "queue": {
        "default": "database",
        "connections": {"database": {"driver": "database", "url": f"sqlite:///{WORKDIR}/queue.sqlite3"}},
        "failed": {"driver": "database", "url": f"sqlite:///{WORKDIR}/queue.sqlite3"},
    },
}
