"""Filesystem helpers of the file store that treat a file vanishing meanwhile as absent."""

from __future__ import annotations

import math
import os

__all__ = ["files", "mtime", "read_file", "subdirs", "unlink_file"]

_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC


_CHUNK = 65536


def read_file(path: str, size: int = -1) -> bytes | None:
    """The first ``size`` bytes (all by default) of the file at ``path``, or None if it is missing."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None
    try:
        if size >= 0:
            return _read_exactly(fd, size)
        data = os.read(fd, _CHUNK)  # plain syscalls: no buffered reader, no fstat, no isatty
        if len(data) < _CHUNK:
            return data  # a short read of a regular file is its end
        chunks = [data]
        while data:
            data = os.read(fd, _CHUNK)
            chunks.append(data)
        return b"".join(chunks)
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
