"""Redis Cluster and Sentinel configuration (freight.redis_topology), on the real servers."""

from __future__ import annotations

import pytest

from freight.cache.manager import CacheManager
from freight.connections import redis_address, redis_client
from freight.errors import ConfigurationError
from freight.redis_topology import is_cluster, parse_nodes, primaries


def test_parse_nodes_accepts_strings_lists_and_pairs() -> None:
    assert parse_nodes("a:1, b:2", "redis", "startup_nodes") == [("a", 1), ("b", 2)]
    assert parse_nodes(["[::1]:7000", ("c", 3)], "redis", "startup_nodes") == [("::1", 7000), ("c", 3)]
    with pytest.raises(ConfigurationError, match="'host:port'"):
        parse_nodes(["nohost"], "redis", "startup_nodes")
    with pytest.raises(ConfigurationError, match="empty"):
        parse_nodes([], "redis", "sentinels")


def test_sentinel_needs_a_service_name() -> None:
    with pytest.raises(ConfigurationError, match="service_name"):
        redis_client({"sentinels": ["127.0.0.1:1"]})


def test_cluster_has_only_db_zero() -> None:
    with pytest.raises(ConfigurationError, match="db = 0"):
        redis_client({"cluster": True, "startup_nodes": ["127.0.0.1:1"], "db": 3})


@pytest.mark.parametrize("form", ["startup_nodes", "url", "cluster_url"])
def test_every_cluster_spelling_reaches_the_cluster(form: str, redis_cluster_nodes: list[str]) -> None:
    config: dict[str, object] = {
        "startup_nodes": {"cluster": True, "startup_nodes": redis_cluster_nodes},
        "url": {"cluster": True, "url": f"redis://{redis_cluster_nodes[0]}"},
        "cluster_url": {"url": "redis+cluster://" + ",".join(redis_cluster_nodes[:2])},
    }[form]
    client = redis_client(config)
    try:
        assert is_cluster(client)
        assert client.ping()
        assert len(primaries(client)) == 3
        assert redis_address(client).startswith("redis+cluster://")
    finally:
        client.close()


def test_sentinel_url_finds_the_master(redis_sentinels: list[str]) -> None:
    client = redis_client({"url": "redis+sentinel://" + ",".join(redis_sentinels) + "/freight-test/0"})
    try:
        assert client.ping()
        assert client.info("replication")["role"] == "master"
        assert redis_address(client).endswith("/freight-test/0")
    finally:
        client.close()


def test_cluster_cache_spreads_keys_and_flush_walks_every_master(
    redis_cluster_nodes: list[str], unique: str
) -> None:
    """Values land on all three masters; flush() removes them from each."""
    manager = CacheManager(
        {
            "default": "c",
            "prefix": unique,
            "stores": {"c": {"driver": "redis", "startup_nodes": redis_cluster_nodes}},
        }
    )
    try:
        cache = manager.store()
        cache.put_many({f"k{i}": i for i in range(300)}, 60)
        assert cache.many([f"k{i}" for i in range(300)]) == {f"k{i}": i for i in range(300)}
        masters = primaries(cache.store.client)  # type: ignore[attr-defined]

        def per_master() -> list[int]:
            return [len(list(m.scan_iter(match=f"{unique}*", count=1000))) for m in masters]

        assert all(n > 0 for n in per_master())
        cache.flush()
        assert per_master() == [0, 0, 0]
    finally:
        manager.purge()
