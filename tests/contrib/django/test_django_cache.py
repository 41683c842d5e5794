"""Django's own ``BaseCacheTests`` (vendored from Django 5.2.19) against ``FreightCache`` on the
redis, PostgreSQL (database) and file stores.

The cull tests are excluded as Django excludes them for its redis and memcached backends:
freight stores expire entries, they do not cull. Everything else runs unchanged; the
only setting is ``incr_decr_type_error`` (FreightCache raises TypeError like locmem).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import django
import pytest

if django.VERSION[:3] != (5, 2, 19):  # Django 6 (Python 3.12+) runs the rest of tests/contrib/django
    pytest.skip(
        f"the vendored cache tests are Django 5.2.19's, not {django.get_version()}'s", allow_module_level=True
    )

from cache_app.django_cache_tests import BaseCacheTests, caches_setting_for_tests  # noqa: E402
from django.test import TestCase, override_settings

from conftest import POSTGRES_URL, REDIS_URL
from freight.contrib.django.cache import store_config

EXCLUDED = {"cull", "zero_cull"}
POSTGRES_TABLE = f"djcache_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module", autouse=True)
def _drop_postgres_table() -> Iterator[None]:
    yield
    import sqlalchemy

    from freight.connections import sql_engine

    try:
        with sql_engine({"url": POSTGRES_URL}).begin() as conn:
            for table in (POSTGRES_TABLE, POSTGRES_TABLE + "_locks"):
                conn.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {table}"))
    except sqlalchemy.exc.OperationalError:
        pass  # the server was unreachable: the PostgreSQL tests failed or were skipped already


def freight_caches(location: str, **options: Any) -> dict[str, Any]:
    """Django's test cache aliases, each a FreightCache on ``location`` under a fresh prefix."""
    options.setdefault("prefix", f"djtest-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    return caches_setting_for_tests(
        BACKEND="freight.contrib.django.FreightCache", LOCATION=location, OPTIONS=options, exclude=EXCLUDED
    )


@override_settings(CACHES=freight_caches(REDIS_URL))
class FreightRedisCacheTests(BaseCacheTests, TestCase):
    """Django's cache contract on the redis store."""


@override_settings(
    CACHES=freight_caches(POSTGRES_URL, table=POSTGRES_TABLE, lock_table=POSTGRES_TABLE + "_locks")
)
class FreightPostgresCacheTests(BaseCacheTests, TestCase):
    """Django's cache contract on the database store (PostgreSQL)."""


@override_settings(CACHES=freight_caches(tempfile.mkdtemp(prefix="freight-djcache-")))
class FreightFileCacheTests(BaseCacheTests, TestCase):
    """Django's cache contract on the file store."""


def test_location_urls_name_their_store() -> None:
    assert store_config("redis://h:1/2", {"prefix": "p"}) == {
        "driver": "redis",
        "url": "redis://h:1/2",
        "prefix": "p",
    }
    assert store_config("memcached://a:1,b:2", {}) == {"driver": "memcached", "servers": ["a:1", "b:2"]}
    assert store_config("sqlite:///x.db", {"MAX_ENTRIES": 3})["driver"] == "database"
    assert store_config("postgresql+psycopg://u@h/db", {})["url"].startswith("postgresql")
    assert store_config("/var/cache/app", {}) == {"driver": "file", "path": "/var/cache/app"}
