"""A Django project using freight for its cache (``FreightCache``), its tasks (``FreightTasks``)
and its worker (``manage.py freight work``). Files go to ``$EXAMPLE_WORKDIR/storage``."""

import importlib.util
import os

WORKDIR = os.environ.get("EXAMPLE_WORKDIR", os.getcwd())
STORAGE = os.path.join(WORKDIR, "storage")

SECRET_KEY = "example-only-" + "k" * 40  # FreightCache signs pickled values with a key derived from it
USE_TZ = True
# Django 6 ships django.tasks; on Django 5.2 the django-tasks backport provides the same API
TASKS_APP = [] if importlib.util.find_spec("django.tasks") else ["django_tasks"]
INSTALLED_APPS = ["django.contrib.contenttypes", *TASKS_APP, "freight.contrib.django", "shop"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(STORAGE, "db.sqlite3")}}

CACHES = {
    "default": {
        "BACKEND": "freight.contrib.django.FreightCache",
        "LOCATION": os.path.join(STORAGE, "django-cache"),  # a directory: the file store
        "TIMEOUT": 300,
        "KEY_PREFIX": "mysite",
    }
}
TASKS = {"default": {"BACKEND": "freight.contrib.django.FreightTasks"}}
FREIGHT = {
    "cache": {
        "default": "file",
        "stores": {"file": {"driver": "file", "path": os.path.join(STORAGE, "cache")}},
    },
    "queue": {
        "default": "database",
        "connections": {"database": {"driver": "database", "url": f"sqlite:///{STORAGE}/queue.sqlite3"}},
        "failed": {"driver": "database", "url": f"sqlite:///{STORAGE}/queue.sqlite3"},
    },
}
