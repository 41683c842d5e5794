"""The file store: one file per entry, written atomically, safe between processes.

Layout under the configured ``path`` (default ``storage/cache``)::

    <path>/<slug>-<sha256("<escaped prefix>:<version>")[:40]>/ab/<sha256(<key prefix>, key)>
    <path>/<slug>-<sha256("<escaped prefix>:<version>")[:40]>/ab/.lock
    <path>/<slug>-<sha256("<escaped prefix>:lock")[:40]>/ab/<sha256(<lock prefix>, name)>

Each prefix and version gets its own directory tree, so ``flush()`` removes exactly
this store's entries (locks live in a tree of their own and survive it, as on redis)
and two prefixes in one path never see each other; the 160-bit digest in the name
means no prefix can be searched for that lands in another's directory. Internal key
spaces of a version (tag metadata) live in the version's tree with their own salt.
An entry file is a header (the expiry and a
checksum of the value, see :mod:`~freight.cache.stores.file_format`) followed by the
encoded value. A key's first write creates its file in place (``O_EXCL``); a rewrite
goes to a temporary file in the same directory, moved into place with ``os.replace``.
So a reader sees the old value, the new value or a miss: a file caught half-written
fails its checksum and reads as a miss. Every write, ``add``, ``increment`` and lock
operation holds an exclusive ``fcntl.flock`` on the ``.lock`` file of the entry's
shard. Directories are created 0700 and files 0600, explicitly (the
umask is never touched). One level of 256 shard directories, created once, saves a
``mkdir`` on most first writes (a second level would need one per new key). Expired
and corrupt entries read as misses and are removed; ``prune()`` sweeps them. POSIX only (``fcntl``).
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import math
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from hashlib import sha256
from typing import TYPE_CHECKING, Any

from freight.cache.lock import Lock
from freight.cache.stores.base import Clock, Store, escape_prefix, lock_prefix
from freight.cache.stores.file_format import (
    FOREVER,
    FOREVER_EXPIRY,
    HEADER_SIZE,
    entry,
    expired,
    expiry_of,
    value_of,
)
from freight.cache.stores.file_io import (
    NOT_REGULAR,
    files,
    mtime,
    read_file,
    remove_odd,
    subdirs,
    unlink_file,
)
from freight.cache.stores.file_lock import FileLock
from freight.errors import CacheError
from freight.manager import clock_of

if TYPE_CHECKING:
    from freight.cache.manager import CacheManager

__all__ = ["HEADER_SIZE", "FileLock", "FileStore", "create", "directory_name"]

_ENTRY = b"k"
_TMP = ".tmp-"
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
#: a symlink planted as a shard's .lock is never followed (nothing is created at its target)
_LOCK_FLAGS = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
#: a temporary file older than this (seconds) was left by a crashed writer; prune() removes it
STALE_TEMP_AGE = 3600.0


def directory_name(prefix: str, tree: str = "1") -> str:
    """The directory of ``prefix``'s tree ``tree`` (a version, or ``lock``): a readable slug plus
    160 bits of sha256 of the escaped prefix and the tree."""
    digest = sha256(f"{escape_prefix(prefix)}:{tree}".encode("ascii")).hexdigest()[:40]
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", prefix)[:40].strip("_") or "cache"
    return f"{slug}-{digest}"


class FileStore(Store):
    """Entries as files under ``path``; atomic replace on write, flock for read-modify-write."""

    driver = "file"
    shared = True
    uses_clock = True

    def __init__(
        self,
        path: str | os.PathLike[str] = "storage/cache",
        *,
        name: str = "",
        prefix: str = "",
        clock: Clock = time.time,
        version: int = 1,
    ) -> None:
        super().__init__(name=name, prefix=prefix, clock=clock, version=version)
        self.root = os.path.abspath(os.fspath(path))
        self.directory = os.path.join(self.root, directory_name(prefix, str(self.version)))
        self.lock_directory = os.path.join(self.root, directory_name(prefix, "lock"))
        self._lock_salt = lock_prefix(prefix).encode("ascii")
        self.relayout()
        #: temporary file names: this process's id, a random part and a counter (no syscall per write)
        self._tmp_names = itertools.count()
        self._tmp_pid = -1
        self._tmp_base = ""

    def relayout(self) -> None:
        """Entry names are salted with :attr:`key_prefix` (a key space shares the version's tree)."""
        self._salt = self.key_prefix.encode("ascii")
        self._entry_salt = self._salt + _ENTRY

    # -- primitives -------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """The encoded value of ``key``; an expired or corrupt entry is removed and misses."""
        digest = sha256(self._entry_salt + key.encode("utf-8", "surrogatepass")).hexdigest()
        shard = f"{self.directory}/{digest[:2]}"
        path = f"{shard}/{digest}"
        try:
            data = read_file(path)
            if data is None:
                return None
            value = self._value(data)
            if value is None:
                self._discard(path, f"{shard}/.lock")
            return value
        except OSError as exc:
            raise self._error("read", key, exc) from exc

    def put(self, key: str, value: bytes, seconds: float | None) -> bool:
        """Write ``value`` atomically with its expiry."""
        shard, path, lockpath = self._paths(_ENTRY, key)
        try:
            fd = self._lock_fd(lockpath)
            try:
                self._write(shard, path, entry(self._expiry(seconds), value), fresh=True)
            finally:
                os.close(fd)  # releases the flock
        except OSError as exc:
            raise self._error("write", key, exc) from exc
        return True

    def add(self, key: str, value: bytes, seconds: float | None) -> bool:
        """Write ``value`` unless a live entry exists (under the shard's flock)."""
        return self.add_in(_ENTRY, key, value, seconds)

    def increment(self, key: str, by: int = 1) -> int:
        """Add ``by`` to the integer under ``key`` under the shard's flock, keeping its expiry."""
        shard, path, lockpath = self._paths(_ENTRY, key)
        try:
            with self._flock(lockpath):
                data = read_file(path) or b""
                value = self._value(data)
                expiry = FOREVER_EXPIRY if value is None else data[:16]
                try:
                    result = (0 if value is None else int(value)) + by
                except ValueError:
                    raise CacheError(
                        f"cannot increment key {key!r} in store {self.name!r}: not an integer"
                    ) from None
                self._write(shard, path, entry(expiry, b"%d" % result), fresh=not data)
                return result
        except OSError as exc:
            raise self._error("increment", key, exc) from exc

    def forget(self, key: str) -> bool:
        """Delete the entry of ``key``; True when it was live."""
        return self.remove_in(_ENTRY, key, None)

    def flush(self) -> bool:
        """Remove this prefix's whole directory tree (moved aside first, so it vanishes at once)."""
        trash = os.path.join(self.root, f".flush-{secrets.token_hex(8)}")
        try:
            os.rename(self.directory, trash)
        except FileNotFoundError:
            return True
        except OSError as exc:
            raise CacheError(f"file store {self.name!r} could not flush {self.directory}: {exc}") from exc
        try:
            shutil.rmtree(trash)
        except OSError as exc:
            raise CacheError(
                f"file store {self.name!r} was flushed but {trash} could not be fully removed: {exc}"
            ) from exc
        return True

    def touch(self, key: str, seconds: float | None) -> bool:
        """Rewrite a live entry with a new expiry."""
        return self.retime_in(_ENTRY, key, None, seconds)

    def lock(self, name: str, seconds: float = 0, owner: str | None = None) -> Lock:
        """A lock kept as a file beside the entries (in its own key space), safe between processes."""
        return FileLock(self, name, seconds, owner)

    # -- maintenance --------------------------------------------------------------------
    def prune(self) -> int:
        """Delete expired or corrupt entries and expired locks (and stale temporary files); return
        how many entries and locks were removed."""
        try:
            return self._sweep(self.directory) + self._sweep(self.lock_directory)
        except OSError as exc:
            raise CacheError(f"file store {self.name!r} could not prune {self.directory}: {exc}") from exc

    def _sweep(self, directory: str) -> int:
        removed = 0
        stale_before = time.time() - STALE_TEMP_AGE
        for shard in subdirs(directory):
            lockpath = os.path.join(shard, ".lock")
            for item in files(shard):
                if item.name.startswith("."):  # the shard's .lock, or a temporary file
                    if item.name.startswith(_TMP) and mtime(item) < stale_before:
                        unlink_file(item.path)
                    continue
                head = read_file(item.path, HEADER_SIZE)
                if head is not None and self._expired_header(head):
                    removed += self._discard(item.path, lockpath)
        return removed

    def describe(self) -> str:
        """``file <directory>``."""
        return f"file {self.directory}"

    # -- key spaces: entries (b"k") and FileLock's locks (b"l") share these operations -----
    def _paths(self, kind: bytes, key: str) -> tuple[str, str, str]:
        """(shard directory, entry path, lock file path) of ``key`` in key space ``kind``."""
        if kind == _ENTRY:
            salt, directory = self._entry_salt, self.directory
        else:
            salt, directory = self._lock_salt + kind, self.lock_directory
        digest = sha256(salt + key.encode("utf-8", "surrogatepass")).hexdigest()
        shard = f"{directory}/{digest[:2]}"
        return shard, f"{shard}/{digest}", f"{shard}/.lock"

    def add_in(self, kind: bytes, key: str, value: bytes, seconds: float | None) -> bool:
        """Store ``value`` in key space ``kind`` unless a live entry exists; True if stored."""
        shard, path, lockpath = self._paths(kind, key)
        try:
            with self._flock(lockpath):
                data = read_file(path)
                if data is not None and self._value(data) is not None:
                    return False
                self._write(shard, path, entry(self._expiry(seconds), value), fresh=data is None)
                return True
        except OSError as exc:
            raise self._error("add", key, exc) from exc

    def read_in(self, kind: bytes, key: str) -> bytes | None:
        """The live value of ``key`` in key space ``kind``, or None."""
        _, path, _ = self._paths(kind, key)
        try:
            data = read_file(path)
        except OSError as exc:
            raise self._error("read", key, exc) from exc
        return None if data is None else self._value(data)

    def remove_in(self, kind: bytes, key: str, only_value: bytes | None) -> bool:
        """Delete the entry (only when it holds ``only_value``, if given); True if it was live."""
        _, path, lockpath = self._paths(kind, key)
        try:
            with self._flock(lockpath):
                data = read_file(path)
                if data is None:
                    return False
                value = self._value(data)
                if only_value is not None and value != only_value:
                    return False
                unlink_file(path)
                return value is not None
        except OSError as exc:
            raise self._error("delete", key, exc) from exc

    def retime_in(self, kind: bytes, key: str, only_value: bytes | None, seconds: float | None) -> bool:
        """Rewrite a live entry with a new expiry (only when it holds ``only_value``, if given)."""
        shard, path, lockpath = self._paths(kind, key)
        try:
            with self._flock(lockpath):
                data = read_file(path)
                value = None if data is None else self._value(data)
                if value is None or (only_value is not None and value != only_value):
                    return False
                self._write(shard, path, entry(self._expiry(seconds), value), fresh=False)
                return True
        except OSError as exc:
            raise self._error("touch", key, exc) from exc

    # -- low level ----------------------------------------------------------------------
    def _expiry(self, seconds: float | None) -> bytes:
        """The expiry field for a TTL of ``seconds`` (None: forever)."""
        if seconds is None:
            return FOREVER_EXPIRY
        return b"%016d" % min(math.ceil((self.clock() + seconds) * 1000), FOREVER - 1)

    def _value(self, data: bytes) -> bytes | None:
        """The value inside an entry's bytes, or None when it is expired, corrupt or torn."""
        return value_of(data, self.clock() * 1000)

    def _expired_header(self, head: bytes) -> bool:
        """True when an entry's header is malformed or its expiry has passed."""
        return expired(expiry_of(head), self.clock() * 1000)

    def _discard(self, path: str, lockpath: str) -> bool:
        """Remove an entry that read as expired or corrupt, if it still is; True if removed."""
        with self._flock(lockpath):
            data = read_file(path)
            if data is not None and self._value(data) is None:
                return unlink_file(path)
        return False

    def _write(self, shard: str, path: str, content: bytes, fresh: bool) -> None:
        """Write ``content`` at ``path`` (the flock is held). With ``fresh`` the file is first
        created in place, which works when none is there; otherwise a temporary file is
        written and moved over ``path``, so a reader never loses the old entry to a torn one."""
        if fresh:
            try:
                fd = self._open(shard, path, _TMP_FLAGS)
            except FileExistsError:
                pass
            else:
                self._fill(fd, path, content)
                return
        tmp = f"{shard}/{self._tmp_name()}"
        fd = self._open(shard, tmp, _TMP_FLAGS)
        try:
            self._fill(fd, tmp, content)
            os.replace(tmp, path)
        except FileNotFoundError:
            # the directory was moved away by a concurrent flush(): this write is flushed too
            unlink_file(tmp)
        except BaseException:
            unlink_file(tmp)
            raise

    @staticmethod
    def _fill(fd: int, path: str, content: bytes) -> None:
        """Write ``content`` to the new file ``fd`` at ``path`` and close it; remove the file
        when the write fails (a reader would take what is left for a torn entry)."""
        try:
            try:
                data = memoryview(content)
                while data:
                    data = data[os.write(fd, data) :]
            finally:
                os.close(fd)
        except BaseException:
            unlink_file(path)
            raise

    def _tmp_name(self) -> str:
        """A fresh temporary file name, unique between processes (pid plus a random part)."""
        pid = os.getpid()
        if pid != self._tmp_pid:  # first write, or a forked child
            self._tmp_pid, self._tmp_base = pid, f"{_TMP}{pid}-{secrets.token_hex(6)}-"
        return f"{self._tmp_base}{next(self._tmp_names)}"

    def _lock_fd(self, lockpath: str) -> int:
        """An open descriptor on ``lockpath`` holding its exclusive flock (closing it releases).
        Anything but a regular file there (a symlink, a FIFO, a directory) is removed first."""
        for _ in range(3):
            try:
                fd = self._open(os.path.dirname(lockpath), lockpath, _LOCK_FLAGS)
            except OSError as exc:
                if exc.errno not in NOT_REGULAR:
                    raise
                remove_odd(lockpath)
                continue
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    os.close(fd)
                    remove_odd(lockpath)
                    continue
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            return fd
        raise OSError(errno.EEXIST, "cannot replace the odd file at the shard's lock path", lockpath)

    @contextmanager
    def _flock(self, lockpath: str) -> Iterator[None]:
        fd = self._lock_fd(lockpath)
        try:
            yield
        finally:
            os.close(fd)

    def _open(self, directory: str, path: str, flags: int) -> int:
        """``os.open(path, flags, 0o600)``, creating ``directory`` first when it is missing."""
        try:
            return os.open(path, flags, 0o600)
        except FileNotFoundError:
            self._makedirs(directory)
            return os.open(path, flags, 0o600)

    def _makedirs(self, directory: str) -> None:
        """Create ``directory`` and its missing parents with mode 0700, explicitly."""
        missing = []
        while not os.path.isdir(directory):
            missing.append(directory)
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
        for path in reversed(missing):
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                continue
            os.chmod(path, 0o700)

    def _error(self, action: str, key: str, exc: OSError) -> CacheError:
        return CacheError(
            f"file store {self.name!r} could not {action} key {key!r} in {self.directory}: {exc}"
        )


def create(config: dict[str, Any], manager: CacheManager) -> FileStore:
    """Build a file store from its configuration (``path``, default ``storage/cache``)."""
    return FileStore(
        config.get("path") or "storage/cache",
        name=config["name"],
        prefix=str(config.get("prefix") or ""),
        clock=clock_of(config, manager),
        version=config.get("version", 1),
    )
