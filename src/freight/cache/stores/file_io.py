"""Filesystem helpers of the file store that treat a file vanishing meanwhile as absent."""

from __future__ import annotations

import math
import os

__all__ = ["files", "mtime", "read_file", "subdirs", "unlink_file"]


def read_file(path: str, size: int = -1) -> bytes | None:
    """The first ``size`` bytes (all by default) of the file at ``path``, or None if it is missing."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except FileNotFoundError:
        return None


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
