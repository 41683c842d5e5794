"""Signing keys (issue 12, item 1): only secret strings or bytes of a minimum length are
accepted, wherever a key is configured, and cache and queue signatures never verify
for each other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from freight.cache.manager import CacheManager
from freight.config import load_config
from freight.errors import ConfigurationError, PayloadError
from freight.queue import payload as payloads
from freight.queue.drivers.sync import create as sync_queue
from freight.queue.manager import QueueManager
from freight.serialization import MIN_KEY_BYTES, SignatureError, Signer, make_codec

GOOD = "a-signing-key-of-some-length"
#: every value that is not a string or bytes: what an unquoted TOML value or a parsed
#: environment value turns into
NOT_TEXT: list[Any] = [0, 1, 123, -1, 2**70, 1.5, float("inf"), True, False, [1, 2], {"k": "v"}, b"x" * 0]
SHORT: list[Any] = ["", "k", "secret", "x" * (MIN_KEY_BYTES - 1), b"\x00", b"\x00" * (MIN_KEY_BYTES - 1)]


def config_with(where: str, key: Any) -> dict[str, Any]:
    if where == "cache":
        return {
            "cache": {
                "default": "s",
                "stores": {"s": {"driver": "array", "serializer": "pickle", "key": key}},
            }
        }
    return {"queue": {"default": "c", "connections": {"c": {"driver": "sync", "key": key}}}}


@pytest.mark.parametrize("where", ["cache", "queue"])
@pytest.mark.parametrize("key", NOT_TEXT + SHORT, ids=repr)
def test_configuration_refuses_keys_that_are_not_long_secret_strings(where: str, key: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"key"):
        load_config(config_with(where, key), env={})


@pytest.mark.parametrize(
    "key", [b"\x00" * 0 + b"k" * MIN_KEY_BYTES, "k" * MIN_KEY_BYTES, GOOD, "ключ-ключ-ключ-ключ"]
)
def test_strings_and_bytes_of_the_minimum_length_are_accepted(key: Any) -> None:
    load_config(config_with("cache", key), env={})
    codec = make_codec("pickle", key)
    assert codec.loads(codec.dumps({"a": 1})) == {"a": 1}


@pytest.mark.parametrize("value", ["123", "true", "1", "false", "0"])
def test_a_key_from_the_environment_stays_a_string_and_is_checked(value: str) -> None:
    env = {"FREIGHT__queue__connections__database__key": value}
    with pytest.raises(ConfigurationError, match=f"at least {MIN_KEY_BYTES}"):
        load_config(None, env=env)
    digits = "1234567890" * 3  # a long key of digits is a fine secret, kept as text
    config = load_config(None, env={"FREIGHT__queue__connections__database__key": digits})
    assert config["queue"]["connections"]["database"]["key"] == digits


def test_an_unquoted_key_in_toml_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "freight.toml"
    path.write_text('[cache.stores.file]\nserializer = "pickle"\nkey = 123\n')
    with pytest.raises(ConfigurationError, match=r"cache\.stores\.file\.key.*not a int.*quote it"):
        load_config(path, env={})


@pytest.mark.parametrize("key", NOT_TEXT + SHORT, ids=repr)
def test_managers_and_drivers_built_directly_refuse_bad_keys(key: Any) -> None:
    cache = CacheManager(
        {"default": "s", "stores": {"s": {"driver": "array", "serializer": "pickle", "key": key}}}
    )
    with pytest.raises(ConfigurationError):
        cache.store()
    with pytest.raises(ConfigurationError):
        sync_queue({"key": key}, QueueManager({"default": "c", "connections": {}}))
    with pytest.raises(ConfigurationError):
        make_codec("json", key)


def test_cache_and_queue_signatures_are_domain_separated() -> None:
    """With the same configured key, a value signed by the cache never verifies as a job
    payload, and a payload signature never verifies as a cache value."""
    codec = make_codec("json", GOOD)
    queue = sync_queue({"key": GOOD}, QueueManager({"default": "c", "connections": {}}))
    assert queue.signer is not None
    body = payloads.dumps(payloads.build(_job(), "default", 0.0))
    cache_sig = codec.signer.signature(body.encode())  # type: ignore[attr-defined]
    forged = f"sig:{cache_sig.hex()}:{body}"
    with pytest.raises(PayloadError, match="does not match"):
        payloads.loads(forged, queue.signer)
    genuine = payloads.dumps(payloads.build(_job(), "q", 0.0), queue.signer)
    assert payloads.loads(genuine, queue.signer)["job"].endswith("._Noop")
    queue_sig = queue.signer.signature(b'{"a":1}')
    with pytest.raises(SignatureError):
        codec.loads(b"$" + queue_sig + b'{"a":1}')
    assert Signer(GOOD, purpose="cache").signature(b"x") != Signer(GOOD, purpose="queue").signature(b"x")


def test_a_signer_needs_a_known_purpose() -> None:
    with pytest.raises(ValueError, match="purpose"):
        Signer(GOOD, purpose="anything")


def _job() -> Any:
    from freight.queue.job import Job

    class _Noop(Job):
        def handle(self) -> None:
            pass

    return _Noop()
