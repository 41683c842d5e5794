"""Backoff policies: the default exponential curve with jitter, numbers, lists, callables, parsing."""

from __future__ import annotations

import pytest

from freight.errors import ConfigurationError
from freight.queue import backoff


def test_default_is_exponential_doubling_from_one_second() -> None:
    """With the jitter factor at its midpoint the default waits 1, 2, 4, 8 ... seconds."""
    delays = [backoff.delay_for(None, n, rand=lambda: 0.5) for n in range(1, 7)]
    assert delays == [1, 2, 4, 8, 16, 32]


def test_default_is_capped_at_ten_minutes_even_with_jitter() -> None:
    """Late attempts never wait more than 600 s, whatever the jitter draws."""
    assert backoff.delay_for(None, 10, rand=lambda: 0.5) == 512
    assert backoff.delay_for(None, 11, rand=lambda: 0.5) == 600
    assert backoff.delay_for(None, 1000, rand=lambda: 0.999) == 600


def test_jitter_spreads_delays_between_half_and_one_and_a_half() -> None:
    """The jitter factor is 0.5 + rand(), so attempt 3 (4 s) waits between 2 and 6 s."""
    assert backoff.exponential(3, rand=lambda: 0.0) == 2.0
    assert backoff.exponential(3, rand=lambda: 0.99) == pytest.approx(5.96)
    assert backoff.exponential(3, jitter=False) == 4.0


def test_a_number_is_the_same_delay_after_every_attempt() -> None:
    """An int or float policy is a constant."""
    assert [backoff.delay_for(5, n) for n in (1, 2, 9)] == [5.0, 5.0, 5.0]
    assert backoff.delay_for(0.25, 3) == 0.25


def test_a_list_is_indexed_by_attempt_and_its_last_value_repeats() -> None:
    """[1, 5, 30] waits 1 s after attempt 1, 5 s after attempt 2 and 30 s after every later one."""
    assert [backoff.delay_for([1, 5, 30], n) for n in range(1, 6)] == [1, 5, 30, 30, 30]
    assert backoff.delay_for((2,), 4) == 2
    assert backoff.from_sequence([], 3) == 0.0


def test_a_callable_receives_the_attempt_number() -> None:
    """callable(attempt) -> seconds; negative results become 0."""
    assert backoff.delay_for(lambda n: n * 1.5, 4) == 6.0
    assert backoff.delay_for(lambda n: -3, 1) == 0.0


@pytest.mark.parametrize("policy", ["1,2", True, object()])
def test_an_invalid_policy_is_a_configuration_error(policy: object) -> None:
    """Strings, booleans and other objects are not policies."""
    with pytest.raises(ConfigurationError):
        backoff.delay_for(policy, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("policy", [-1, [1, -2], [1, "x"], "5", True])
def test_validate_rejects_what_delay_for_cannot_use(policy: object) -> None:
    """validate() names the offending value."""
    with pytest.raises(ConfigurationError, match="backoff"):
        backoff.validate(policy)


def test_parse_reads_the_command_line_forms() -> None:
    """--backoff 5 is a number, --backoff 1,5,30 a list, an empty value no policy."""
    assert backoff.parse("5") == 5.0
    assert backoff.parse(" 1, 5 ,30 ") == [1.0, 5.0, 30.0]
    assert backoff.parse("") is None
    with pytest.raises(ConfigurationError, match="--backoff"):
        backoff.parse("1,soon")
    with pytest.raises(ConfigurationError, match="--backoff"):
        backoff.parse("-4")
