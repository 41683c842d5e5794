"""Security defaults (issue 5, item 9) on the cache side.

No pickle unless configured (and then only signed); a tampered signed value reads as
a miss and is logged; the file store's files are 0600 and its directories 0700 whatever
the process umask. The queue side (signed payloads per connection) is in test_poison.py.
"""

from __future__ import annotations

import logging
import os
import pickle
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from freight.cache.manager import CacheManager
from freight.errors import ConfigurationError, PayloadError, SerializationError
from freight.queue import payload
from freight.serialization import JsonCodec, make_codec

UNPICKLED: list[str] = []


def _side_effect(tag: str) -> None:
    UNPICKLED.append(tag)


class Exploit:
    """Unpickling this calls :func:`_side_effect`: proof that code ran."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_side_effect, ("exploit ran",))


EXPLOIT = pickle.dumps(Exploit())


@pytest.fixture(autouse=True)
def _clean_flag() -> Iterator[None]:
    UNPICKLED.clear()
    yield
    UNPICKLED.clear()


def manager(tmp_path: Path, **store: Any) -> CacheManager:
    stores = {
        "array": {"driver": "array", **store},
        "file": {"driver": "file", "path": str(tmp_path / "cache"), **store},
    }
    return CacheManager({"default": "array", "prefix": "sec", "stores": stores})


def test_default_codec_is_json_and_never_unpickles() -> None:
    assert make_codec().name == "json"
    for codec in (JsonCodec(), make_codec(), make_codec("json", "k" * 16)):
        with pytest.raises(SerializationError):
            codec.loads(EXPLOIT)
    with pytest.raises(PayloadError):
        payload.loads(EXPLOIT)
    assert UNPICKLED == []


@pytest.mark.parametrize("store", ["array", "file"])
def test_a_pickle_planted_in_a_default_store_is_a_miss_not_code(tmp_path: Path, store: str) -> None:
    repo = manager(tmp_path).store(store)
    repo.store.put("planted", EXPLOIT, None)
    assert repo.get("planted", "miss") == "miss"
    assert UNPICKLED == []


@pytest.mark.parametrize("store", ["array", "file"])
def test_pickle_without_a_key_is_a_configuration_error(tmp_path: Path, store: str) -> None:
    with pytest.raises(ConfigurationError, match="key"):
        manager(tmp_path, serializer="pickle").store(store)


@pytest.mark.parametrize("serializer", ["json", "pickle"])
@pytest.mark.parametrize("store", ["array", "file"])
def test_a_tampered_signed_value_is_a_logged_miss(
    tmp_path: Path, store: str, serializer: str, caplog: pytest.LogCaptureFixture
) -> None:
    repo = manager(tmp_path, serializer=serializer, key="s3cret-s3cret-s3cret").store(store)
    assert repo.put("k", {"amount": 10})
    raw = repo.store.get("k")
    assert raw is not None
    tampered = raw[:-1] + bytes([raw[-1] ^ 0x01])
    repo.store.put("k", tampered, None)
    with caplog.at_level(logging.WARNING):
        assert repo.get("k", "miss") == "miss"
    logged = [r for r in caplog.records if r.levelno >= logging.WARNING and "'k'" in r.getMessage()]
    assert logged, f"no warning naming the key was logged: {caplog.text!r}"
    # A value signed with another key is refused the same way, and never unpickled.
    other = manager(tmp_path / "other", serializer=serializer, key="another-key-another-key").store(store)
    other.put("x", Exploit() if serializer == "pickle" else {"x": 1})
    forged = other.store.get("x")
    assert forged is not None
    repo.store.put("k", forged, None)
    assert repo.get("k", "miss") == "miss"
    assert UNPICKLED == []


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_file_store_files_are_0600_and_directories_0700(tmp_path: Path, umask: int) -> None:
    root = tmp_path / "fresh" / "cache"
    repo = CacheManager(
        {"default": "file", "stores": {"file": {"driver": "file", "path": str(root)}}}
    ).store()
    old = os.umask(umask)
    try:
        for i in range(50):
            repo.put(f"key-{i}", {"i": i})
        repo.put("ünïcode/../../key\n", "v")
        repo.increment("counter")
        with repo.lock("a-lock", 10):
            pass
        repo.add("added", 1)
    finally:
        os.umask(old)
    files = dirs = 0
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_dir():
            dirs += 1
            assert mode == 0o700, f"directory {path} has mode {oct(mode)}"
        else:
            files += 1
            assert mode == 0o600, f"file {path} has mode {oct(mode)}"
    assert files >= 50 and dirs >= 1
    assert not (tmp_path / "key\n").exists() and not any(tmp_path.glob("key*"))
