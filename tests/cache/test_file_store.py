"""File store specifics: layout, permissions, corrupt entries, prune, prefixes, processes."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import stat
from pathlib import Path

import pytest
from cachekit import FakeClock

from freight.cache.manager import CacheManager
from freight.cache.repository import Repository
from freight.cache.stores.file import HEADER_SIZE, STALE_TEMP_AGE, FileStore, directory_name
from freight.errors import CacheError


def file_cache(path: Path, clock: FakeClock | None = None, prefix: str = "app") -> Repository:
    config = {"default": "f", "prefix": prefix, "stores": {"f": {"driver": "file", "path": str(path)}}}
    return CacheManager(config, clock=clock or FakeClock()).store()


def store_of(cache: Repository) -> FileStore:
    assert isinstance(cache.store, FileStore)
    return cache.store


def entry_path(cache: Repository, key: str) -> Path:
    store = store_of(cache)
    return Path(store._paths(b"k", key)[1])


def test_layout_is_sha256_sharded_under_a_directory_per_prefix(tmp_path: Path) -> None:
    cache = file_cache(tmp_path, prefix="my app")
    cache.put("user:1", {"name": "Ada"})
    digest = hashlib.sha256(b"my%20app:1:kuser:1").hexdigest()
    path = tmp_path / directory_name("my app") / digest[:2] / digest
    assert entry_path(cache, "user:1") == path
    assert path.is_file()
    data = path.read_bytes()
    checksum = hashlib.blake2b(b'{"name":"Ada"}', digest_size=8).hexdigest().encode()
    assert data[:HEADER_SIZE] == b"9999999999999999 " + checksum + b"\n"
    assert data[HEADER_SIZE:] == b'{"name":"Ada"}'
    assert directory_name("my app").startswith("my_app-")
    assert directory_name("") != directory_name("_")
    digest = hashlib.sha256(b"my%20app:1").hexdigest()[:40]
    assert directory_name("my app") == f"my_app-{digest}", "160 bits: no colliding prefix can be searched for"
    assert directory_name("my app", "2") != directory_name("my app") != directory_name("my app", "lock")


def test_expiry_header_is_unix_milliseconds(tmp_path: Path) -> None:
    clock = FakeClock(1_700_000_000.0)
    cache = file_cache(tmp_path, clock)
    cache.put("k", "v", 1.5)
    assert entry_path(cache, "k").read_bytes()[:17] == b"0001700000001500 "


def test_files_are_0600_and_directories_0700(tmp_path: Path) -> None:
    root = tmp_path / "new" / "cache"
    cache = file_cache(root)
    old = os.umask(0)
    try:
        cache.put("k", "v")
        cache.add("a", 1)
        cache.increment("n")
        assert cache.lock("l", 10).acquire()
    finally:
        os.umask(old)
    seen = 0
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"
        seen += 1
    assert seen > 8


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"garbage",
        b"123\n",
        b"abcdefghijklmnop\nvalue",
        b"9999999999999999-not-a-newline",
        b'9999999999999999 0123456789abcdef\n"v"',
        b'9999999999999999 0123456789abcdef-"v"',
    ],
)
def test_a_corrupt_entry_is_a_miss_and_is_removed(tmp_path: Path, content: bytes) -> None:
    cache = file_cache(tmp_path)
    cache.put("k", "v")
    path = entry_path(cache, "k")
    path.write_bytes(content)
    assert cache.get("k", "miss") == "miss"
    assert not path.exists()
    assert cache.add("k", "fresh") and cache.get("k") == "fresh"


def test_a_half_written_entry_fails_its_checksum_and_is_a_miss(tmp_path: Path) -> None:
    cache = file_cache(tmp_path)
    cache.put("k", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    path = entry_path(cache, "k")
    whole = path.read_bytes()
    for cut in (HEADER_SIZE, HEADER_SIZE + 5, len(whole) - 1):  # the value is valid JSON at +5
        path.write_bytes(whole[:cut])
        assert cache.get("k", "miss") == "miss", cut
    path.write_bytes(whole)
    assert cache.get("k") == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]


def test_a_new_key_is_written_in_place_and_a_rewrite_is_moved_into_place(tmp_path: Path) -> None:
    cache = file_cache(tmp_path)
    cache.put("k", "one")
    path = entry_path(cache, "k")
    first = path.stat().st_ino
    cache.put("k", "two")  # a temporary file replaces the entry: a new inode
    assert path.stat().st_ino != first and cache.get("k") == "two"
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".tmp-")] == []
    assert cache.increment("n") == 1 and cache.increment("n", 2) == 3


def test_an_expired_entry_is_removed_when_read(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = file_cache(tmp_path, clock)
    cache.put("k", "v", 10)
    clock.advance(11)
    assert cache.missing("k")
    assert not entry_path(cache, "k").exists()


def test_prune_removes_expired_corrupt_and_stale_temporary_files(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = file_cache(tmp_path, clock)
    cache.put_many({f"short{i}": i for i in range(5)}, 10)
    cache.put("long", 1, 1000)
    cache.put("forever", 2)
    cache.put("corrupt", 3)
    entry_path(cache, "corrupt").write_bytes(b"junk")
    assert cache.lock("expiring-lock", 5).acquire()
    fresh_tmp = entry_path(cache, "long").parent / ".tmp-1-fresh"
    stale_tmp = entry_path(cache, "forever").parent / ".tmp-1-stale"
    fresh_tmp.write_bytes(b"x")
    stale_tmp.write_bytes(b"x")
    os.utime(stale_tmp, (0, os.path.getmtime(stale_tmp) - STALE_TEMP_AGE - 10))
    clock.advance(11)
    assert cache.prune() == 7  # five expired entries, one corrupt, one expired lock
    assert cache.prune() == 0
    assert not stale_tmp.exists() and fresh_tmp.exists()
    assert cache.many(["long", "forever"]) == {"long": 1, "forever": 2}
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name not in {".lock"}]
    assert len(files) == 3  # long, forever, the fresh temporary file


def test_flush_removes_only_this_prefix(tmp_path: Path) -> None:
    mine, theirs = file_cache(tmp_path, prefix="a"), file_cache(tmp_path, prefix="b")
    mine.put("k", 1)
    theirs.put("k", 2)
    assert mine.get("k") == 1 and theirs.get("k") == 2
    assert mine.flush()
    assert mine.missing("k") and theirs.get("k") == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [directory_name("b")]
    assert mine.flush(), "flushing an empty store is fine"
    mine.put("k", 3)
    assert mine.get("k") == 3


def test_a_read_error_names_the_store_and_directory(tmp_path: Path) -> None:
    cache = file_cache(tmp_path)
    cache.put("k", "v")
    path = entry_path(cache, "k")
    for item in path.parent.iterdir():
        item.unlink()
    path.parent.rmdir()
    path.parent.write_bytes(b"")  # a file where the shard directory belongs: ENOTDIR, not "not found"
    with pytest.raises(CacheError, match="file store 'f'.*" + str(tmp_path)):
        cache.get("k")


def _hammer(path: str, prefix: str) -> None:
    cache = file_cache(Path(path), prefix=prefix)
    for _ in range(150):
        cache.increment("counter")
    cache.add("once", os.getpid())

    def critical() -> None:
        value = cache.get("shared", 0)
        cache.put("shared", value + 1)

    cache.lock("critical", 30).block(20, critical)


def test_increment_add_and_locks_are_atomic_between_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_hammer, args=(str(tmp_path), "p")) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    cache = file_cache(tmp_path, prefix="p")
    assert cache.get("counter") == 600
    assert cache.get("shared") == 4
    assert cache.get("once") in {p.pid for p in procs}


def test_an_entry_symlinked_to_a_device_is_a_miss_and_is_removed(tmp_path: Path) -> None:
    cache = file_cache(tmp_path)
    cache.put("k", "v")
    path = entry_path(cache, "k")
    path.unlink()
    path.symlink_to("/dev/zero")
    assert cache.get("k") is None, "never read the symlink's target"
    assert not path.is_symlink(), "the planted symlink is removed"
    assert cache.put("k", "again") and cache.get("k") == "again"


def test_an_entry_that_is_a_fifo_or_a_directory_is_a_miss(tmp_path: Path) -> None:
    cache = file_cache(tmp_path)
    cache.put("fifo", "v")
    cache.put("dir", "v")
    fifo, directory = entry_path(cache, "fifo"), entry_path(cache, "dir")
    fifo.unlink()
    os.mkfifo(fifo)
    directory.unlink()
    directory.mkdir()
    assert cache.get("fifo") is None, "a FIFO never blocks a read"
    assert cache.get("dir") is None and cache.many(["fifo", "dir"]) == {"fifo": None, "dir": None}
    assert cache.put("fifo", "new") and cache.get("fifo") == "new"
    cache.prune()


def test_a_lock_file_symlink_is_never_followed(tmp_path: Path) -> None:
    cache = file_cache(tmp_path)
    cache.put("k", "v")
    lockpath = entry_path(cache, "k").parent / ".lock"
    target = tmp_path / "planted"
    lockpath.unlink()
    lockpath.symlink_to(target)
    assert cache.put("k", "w") and cache.increment("n") == 1 and cache.get("k") == "w"
    assert not target.exists(), "nothing is created at the symlink's target"
    assert lockpath.is_file() and not lockpath.is_symlink()
