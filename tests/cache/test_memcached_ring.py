"""The memcached ring's hashing (freight.cache.stores.memcached_ring): rendezvous, no server."""

from __future__ import annotations

from collections import Counter

from freight.cache.stores.memcached_ring import RingClient, owner


def seeds(n: int) -> list[bytes]:
    return [f"10.0.0.{i}:11211".encode() for i in range(n)]


KEYS = [f"user:{i}" for i in range(20_000)]


def test_keys_spread_evenly() -> None:
    counts = Counter(owner(k, seeds(3)) for k in KEYS)
    assert sorted(counts) == [0, 1, 2]
    assert all(abs(c - len(KEYS) / 3) < len(KEYS) * 0.03 for c in counts.values()), counts


def test_adding_a_node_moves_about_one_in_n_keys_all_to_the_new_node() -> None:
    before = {k: owner(k, seeds(3)) for k in KEYS}
    after = {k: owner(k, seeds(4)) for k in KEYS}
    moved = [k for k in KEYS if before[k] != after[k]]
    assert all(after[k] == 3 for k in moved), "a moved key only ever goes to the new node"
    assert 0.22 < len(moved) / len(KEYS) < 0.28, len(moved)  # 1/4 expected


def test_removing_a_node_moves_only_its_keys() -> None:
    four, three = seeds(4), seeds(4)[:3]
    for k in KEYS[:5000]:
        was = owner(k, four)
        if was != 3:
            assert owner(k, three) == was


class _Refusing:
    calls = 0

    def get(self, key: str, default: object = None) -> object:
        _Refusing.calls += 1
        raise ConnectionRefusedError("refused")

    def close(self) -> None:
        pass


def test_a_down_node_is_skipped_until_dead_timeout_passes() -> None:
    now = [0.0]
    ring = RingClient(["a:1"], lambda s: _Refusing(), dead_timeout=2.0, monotonic=lambda: now[0])
    assert ring.get("k") is None and _Refusing.calls == 1
    assert ring.get("k") is None and _Refusing.calls == 1, "not retried while down"
    now[0] = 2.5
    assert ring.get("k") is None and _Refusing.calls == 2, "retried after dead_timeout"
