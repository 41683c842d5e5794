"""Atomic locks on every backend: owners, blocking, refresh, expiry, restore in another process."""

from __future__ import annotations

import pytest
from cachekit import CacheEnv, persistent, time_travel

from freight.cache.lock import Lock
from freight.cache.repository import Repository
from freight.errors import LockTimeoutError


@persistent
def test_only_one_owner_holds_a_lock(env: CacheEnv, cache: Repository) -> None:
    first, second = cache.lock("job", 60), cache.lock("job", 60)
    assert first.owner != second.owner
    assert first.acquire() is True
    assert second.acquire() is False
    assert first.current_owner() == first.owner == second.current_owner()
    assert first.is_owned_by_current_process() and not second.is_owned_by_current_process()
    assert second.release() is False, "only the owner may release"
    assert first.current_owner() == first.owner
    assert first.release() is True
    assert first.current_owner() is None
    assert first.release() is False
    assert second.acquire() is True


@persistent
def test_a_lock_is_independent_of_cache_keys(env: CacheEnv, cache: Repository) -> None:
    cache.put("job", "value")
    assert cache.lock("job", 60).acquire()
    assert cache.get("job") == "value"
    assert cache.lock("other", 60).acquire(), "distinct names are distinct locks"


@persistent
def test_restore_lock_in_another_process(env: CacheEnv, cache: Repository) -> None:
    lock = cache.lock("handoff", 60, owner="owner-token-1")
    assert lock.owner == "owner-token-1"
    assert lock.acquire()
    other = env.other_process()
    assert other.lock("handoff", 60).acquire() is False
    restored = other.restore_lock("handoff", "owner-token-1")
    assert restored.is_owned_by_current_process()
    assert restored.release() is True
    assert lock.current_owner() is None


@persistent
def test_get_runs_the_callback_and_releases(env: CacheEnv, cache: Repository) -> None:
    lock = cache.lock("g", 60)
    assert lock.get(lambda: "result") == "result"
    assert lock.current_owner() is None
    holder = cache.lock("g", 60)
    assert holder.get() is True
    assert lock.get(lambda: pytest.fail("ran without the lock")) is False
    assert holder.release()
    with pytest.raises(RuntimeError):
        lock.get(_raise)
    assert lock.current_owner() is None, "released even when the callback raises"


def _raise() -> None:
    raise RuntimeError("boom")


@persistent
def test_block_times_out_with_lock_timeout_error(env: CacheEnv, cache: Repository) -> None:
    assert cache.lock("b", 60).acquire()
    with pytest.raises(LockTimeoutError, match="'b'"):
        cache.lock("b", 60).block(0)


@persistent
def test_block_waits_until_the_holder_releases(env: CacheEnv, cache: Repository) -> None:
    holder = cache.lock("b", 60)
    assert holder.acquire()
    waiter = cache.lock("b", 60)
    naps: list[float] = []

    def sleep(seconds: float) -> None:  # the holder lets go while the waiter polls
        naps.append(seconds)
        if len(naps) == 2:
            holder.release()

    waiter._sleep = sleep
    assert waiter.block(30, lambda: "ran") == "ran"
    assert len(naps) == 2
    assert waiter.current_owner() is None, "block(fn) releases after running fn"
    assert waiter.block(30) is True and waiter.current_owner() == waiter.owner


@persistent
def test_context_manager(env: CacheEnv, cache: Repository) -> None:
    with cache.lock("cm", 60) as lock:
        assert isinstance(lock, Lock)
        assert lock.current_owner() == lock.owner
        with pytest.raises(LockTimeoutError):
            with cache.lock("cm", 60):
                pytest.fail("entered a held lock")
    assert cache.lock("cm").current_owner() is None


@persistent
def test_force_release(env: CacheEnv, cache: Repository) -> None:
    assert cache.lock("f", 60).acquire()
    cache.lock("f").force_release()
    assert cache.lock("f").current_owner() is None
    cache.lock("f").force_release()  # releasing a free lock is fine


@persistent
def test_refresh_extends_only_the_owners_lock(env: CacheEnv, cache: Repository) -> None:
    lock = cache.lock("r", 10)
    assert lock.refresh() is False, "not held yet"
    assert lock.acquire()
    assert cache.lock("r", 10).refresh() is False
    assert lock.refresh() is True
    if env.caps.uses_clock:
        env.clock.advance(8)
        assert lock.refresh(10)
        env.clock.advance(8)
        assert lock.current_owner() == lock.owner, "refresh restarted the TTL"
        env.clock.advance(3)
        assert lock.current_owner() is None
        assert cache.lock("r", 10).acquire()


@time_travel
def test_a_lock_expires_after_its_seconds(env: CacheEnv, cache: Repository) -> None:
    lock = cache.lock("e", 5)
    assert lock.acquire()
    env.clock.advance(4)
    assert not cache.lock("e", 5).acquire()
    env.clock.advance(2)
    assert lock.current_owner() is None
    late = cache.lock("e", 5)
    assert late.acquire()
    assert lock.release() is False, "the first owner's lock expired and belongs to another"
    assert late.current_owner() == late.owner


@persistent
def test_a_lock_without_seconds_never_expires(env: CacheEnv, cache: Repository) -> None:
    lock = cache.lock("forever")
    assert lock.acquire()
    if env.caps.uses_clock:
        env.clock.advance(10**7)
    assert not cache.lock("forever").acquire()
    assert lock.release()
