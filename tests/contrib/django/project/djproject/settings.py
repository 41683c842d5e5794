"""Settings of the test Django project: freight's cache, queue and tasks on SQLite files in
``$DJANGO_TEST_WORKDIR`` (the tests and the worker subprocess share them)."""

import importlib.util
import os
import tempfile

WORKDIR = os.environ.setdefault("DJANGO_TEST_WORKDIR", tempfile.mkdtemp(prefix="freight-django-"))

SECRET_KEY = "freight-tests-" + "x" * 40
USE_TZ = True
# Django 6 ships django.tasks; on Django 5.2 the django-tasks backport provides the same API
TASKS_APP = [] if importlib.util.find_spec("django.tasks") else ["django_tasks"]
INSTALLED_APPS = ["django.contrib.contenttypes", *TASKS_APP, "freight.contrib.django", "shop"]
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
