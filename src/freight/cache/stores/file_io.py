"""Filesystem helpers of the file store that treat a file vanishing meanwhile as absent.

Entries are opened with ``O_NOFOLLOW | O_NONBLOCK``: a symlink planted in the cache
directory is never followed, a FIFO never blocks a read, and anything that is not a
regular file (a device, a directory, a socket) reads as ``b""``, which the store takes
for a corrupt entry (a miss) and removes. A read never goes past the file's size.
"""

from __future__ import annotations

import errno
import math
import os
import stat

__all__ = ["NOT_REGULAR", "files", "mtime", "read_file", "remove_odd", "subdirs", "unlink_file"]

_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
#: the errors of opening or reading something that is not a regular file
NOT_REGULAR = (errno.ELOOP, errno.EISDIR, errno.ENXIO, errno.EAGAIN, errno.EWOULDBLOCK, errno.EINVAL)

_CHUNK = 65536


def read_file(path: str, size: int = -1) -> bytes | None:
    """The first ``size`` bytes (all by default) of the regular file at ``path``, None if it is
    missing, ``b""`` if it is not a regular file."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in NOT_REGULAR:
            return b""
        raise
    try:
        if size >= 0:
            return _read_exactly(fd, size)
        data = os.read(fd, _CHUNK)  # plain syscalls: no buffered reader, no isatty
        if len(data) < _CHUNK:
            return data  # a short read is the end of a regular file (and of the rest: a miss anyway)
        # a long entry (rare): only now pay an fstat to refuse devices and bound the read
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return b""
        return data + _read_exactly(fd, info.st_size - len(data))
    except OSError as exc:
        if exc.errno in NOT_REGULAR:
            return b""
        raise
    finally:
        os.close(fd)


def _read_exactly(fd: int, size: int) -> bytes:
    chunks = []
    while size > 0:
        data = os.read(fd, size)
        if not data:
            break
        chunks.append(data)
        size -= len(data)
    return b"".join(chunks)


def mtime(entry: os.DirEntry[str]) -> float:
    """The modification time of ``entry``; infinity when it is gone (so it never looks stale)."""
    try:
        return entry.stat(follow_symlinks=False).st_mtime
    except FileNotFoundError:
        return math.inf


def unlink_file(path: str) -> bool:
    """Remove the file at ``path``; False when it was already gone."""
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
    except IsADirectoryError:
        return False  # a directory where an entry belongs: left alone, it reads as a miss


def subdirs(path: str) -> list[str]:
    """The paths of the directories directly in ``path`` (none when it is missing)."""
    return [e.path for e in _scan(path) if e.is_dir(follow_symlinks=False)]


def files(path: str) -> list[os.DirEntry[str]]:
    """The regular files directly in ``path`` (none when it is missing)."""
    return [e for e in _scan(path) if e.is_file(follow_symlinks=False)]


def _scan(path: str) -> list[os.DirEntry[str]]:
    try:
        return list(os.scandir(path))
    except FileNotFoundError:
        return []


def remove_odd(path: str) -> None:
    """Remove what sits at ``path`` and is not a regular file (a directory only if empty)."""
    try:
        os.unlink(path)
    except IsADirectoryError:
        os.rmdir(path)
    except FileNotFoundError:
        pass
