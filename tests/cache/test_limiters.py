"""Rate limiter and funnel on every backend: windows on the injected clock, slots, expiry.

Windows are read from the repository's clock, so every store travels in time here
(the store's own TTLs only clean up). Funnel slots are locks: their expiry follows the
store's time, so it is checked by time travel where the store keeps the clock.
"""

from __future__ import annotations

import pytest
from cachekit import CacheEnv, persistent, time_travel

from freight.cache.repository import Repository
from freight.errors import LockTimeoutError


@persistent
def test_hits_count_in_a_window_that_decays(env: CacheEnv, cache: Repository) -> None:
    limiter = cache.limiter()
    assert limiter.attempts("login:ada") == 0
    assert limiter.available_in("login:ada") == 0
    assert [limiter.hit("login:ada", 60) for _ in range(3)] == [1, 2, 3]
    assert limiter.attempts("login:ada") == 3
    assert limiter.remaining("login:ada", 5) == 2
    assert not limiter.too_many_attempts("login:ada", 5)
    assert limiter.too_many_attempts("login:ada", 3)
    assert limiter.available_in("login:ada") == pytest.approx(60, abs=0.01)
    env.clock.advance(45)
    assert limiter.hit("login:ada", 60) == 4, "the window started at the first hit"
    assert limiter.available_in("login:ada") == pytest.approx(15, abs=0.01)
    env.clock.advance(15)
    assert limiter.attempts("login:ada") == 0, "the window is over"
    assert limiter.remaining("login:ada", 5) == 5
    assert limiter.hit("login:ada", 60) == 1, "a new window opens at the next hit"
    assert limiter.available_in("login:ada") == pytest.approx(60, abs=0.01)
    assert limiter.attempts("login:bob") == 0, "keys are independent"


@persistent
def test_attempt_runs_the_callback_only_within_the_limit(env: CacheEnv, cache: Repository) -> None:
    limiter = cache.limiter()
    calls: list[int] = []
    results = [limiter.attempt("send", 2, lambda: calls.append(1), decay=10) for _ in range(4)]
    assert results == [True, True, False, False]
    assert len(calls) == 2
    assert limiter.attempt("other", 1, lambda: "value") == "value", "a callback's result is returned"
    env.clock.advance(10)
    assert limiter.attempt("send", 2, lambda: 7, decay=10) == 7


@persistent
def test_clear_and_reset(env: CacheEnv, cache: Repository) -> None:
    limiter = cache.limiter()
    limiter.hit("k", 30)
    limiter.hit("k", 30)
    limiter.reset_attempts("k")
    assert limiter.attempts("k") == 0
    assert limiter.available_in("k") > 0, "reset keeps the window"
    limiter.hit("k", 30)
    limiter.clear("k")
    assert limiter.attempts("k") == 0 and limiter.available_in("k") == 0


@persistent
def test_another_process_sees_the_same_window(env: CacheEnv, cache: Repository) -> None:
    mine, theirs = cache.limiter(), env.other_process().limiter()
    mine.hit("shared", 60)
    theirs.hit("shared", 60)
    assert mine.attempts("shared") == theirs.attempts("shared") == 2


@persistent
def test_many_idle_windows_later_a_key_starts_fresh(env: CacheEnv, cache: Repository) -> None:
    limiter = cache.limiter()
    for _ in range(5):
        assert limiter.hit("burst", 1) == 1
        env.clock.advance(1.5)
    assert limiter.attempts("burst") == 0


def test_a_zero_decay_is_refused(cache: Repository) -> None:
    with pytest.raises(ValueError, match="decay"):
        cache.limiter().hit("k", 0)


@persistent
def test_funnel_admits_at_most_limit_holders(env: CacheEnv, cache: Repository) -> None:
    first, second, third = (cache.funnel("reports", limit=2) for _ in range(3))
    assert first.acquire() and second.acquire()
    assert not third.acquire(), "both slots are taken"
    assert not env.other_process().funnel("reports", limit=2).acquire()
    assert first.release()
    assert third.acquire(), "a released slot is free again"
    assert not first.release(), "nothing is held any more"
    third.release()
    second.release()


@persistent
def test_funnel_as_a_context_manager_and_then(env: CacheEnv, cache: Repository) -> None:
    with cache.funnel("ctx", limit=1) as held:
        assert held.held is not None
        with pytest.raises(LockTimeoutError, match="slots stayed taken"):
            with cache.funnel("ctx", limit=1, block=0.05):
                pytest.fail("entered a full funnel")
        assert cache.funnel("ctx", limit=1).then(lambda: "ran", lambda: "full") == "full"
    assert cache.funnel("ctx", limit=1).then(lambda: "ran") == "ran"
    assert cache.funnel("ctx", limit=1).acquire(), "every slot was given back"


@time_travel
def test_a_dead_holders_slot_expires(env: CacheEnv, cache: Repository) -> None:
    dead = cache.funnel("jobs", limit=1, release_after=30)
    assert dead.acquire()
    dead.held = None  # its process died without releasing
    assert not cache.funnel("jobs", limit=1).acquire()
    env.clock.advance(31)
    survivor = cache.funnel("jobs", limit=1, release_after=30)
    assert survivor.acquire(), "the slot expired after release_after"
    env.clock.advance(20)
    assert survivor.refresh()
    env.clock.advance(20)
    assert not cache.funnel("jobs", limit=1).acquire(), "refresh kept the slot"


def test_funnel_arguments_are_checked(cache: Repository) -> None:
    with pytest.raises(ValueError, match="limit"):
        cache.funnel("x", limit=0)
    with pytest.raises(ValueError, match="release_after"):
        cache.funnel("x", limit=1, release_after=0)
