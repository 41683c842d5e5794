"""Cache tags: entries that carry their tags' versions, checked on read, and real deletion.

A tagged entry is stored as an *envelope*: ``\\x00T<count>:`` then, per tag,
``<length>:<tag><token>`` (a 16-character version token), then the encoded value.
No codec output starts with ``\\x00`` (JSON text, ``$`` for signed values, ``\\x80`` for
pickle), so a plain read recognises an envelope only when decoding fails: the plain
hot path does no tag work at all.

Correctness (Laravel #61328): a writer reads each tag's current version token
*before* writing, and stores it in the entry. ``flush_tags`` replaces the token with
a fresh random one. A read compares the entry's tokens with the current ones, so an
entry written before a flush (whatever the interleaving) can never read as a hit
after it. A missing version is created with ``add`` before being used, so an entry
never records "no version", and a version that expires only makes its entries
misses, never revives one.

Bounded metadata (Laravel #43850, cashews): each tag keeps its version, the latest
expiry of its members and a member list, all with TTLs raised (never lowered) to
the longest-lived member's, so a tag whose members have all expired leaves nothing
behind. Real deletion (Laravel #25482): a flush walks the member list in batches of
:data:`FLUSH_BATCH` keys, so a tag of a million members flushes in bounded memory.

This module is the generic implementation on any :class:`Store` (its primitives on
the ``t`` key space hold the metadata); redis overrides it with scripts
(:mod:`freight.cache.stores.redis_tags`).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from freight.cache.stores.base import Store

__all__ = ["FLUSH_BATCH", "MARK", "TagOps", "check_tags", "envelope", "open_envelope", "token"]

#: the first bytes of a tagged entry
MARK = b"\x00T"
#: member keys deleted per round trip by a tag flush
FLUSH_BATCH = 500
#: TTL (seconds) of a tag version whose members' lifetimes are unknown
UNKNOWN_LIFETIME = 3600.0
_TOKEN = 16


def token() -> bytes:
    """A fresh random version token (16 hex characters)."""
    return secrets.token_hex(_TOKEN // 2).encode("ascii")


def check_tags(tags: Iterable[str]) -> list[str]:
    """``tags`` as a list of distinct non-empty strings (in order)."""
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag:
            raise TypeError(f"cache tags must be non-empty strings, got {tag!r:.80}")
        if tag not in out:
            out.append(tag)
    return out


def envelope(pairs: Sequence[tuple[bytes, bytes]], value: bytes) -> bytes:
    """The stored bytes of ``value`` tagged with ``(tag, token)`` pairs."""
    parts = [MARK, b"%d:" % len(pairs)]
    for tag, tok in pairs:
        parts.append(b"%d:%s%s" % (len(tag), tag, tok))
    parts.append(value)
    return b"".join(parts)


def open_envelope(raw: bytes) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
    """``(pairs, value)`` of an envelope, or None when ``raw`` is not a well-formed one."""
    if raw[:2] != MARK:
        return None
    try:
        colon = raw.index(b":", 2)
        count, pos, pairs = int(raw[2:colon]), colon + 1, []
        for _ in range(count):
            colon = raw.index(b":", pos)
            size = int(raw[pos:colon])
            tag = raw[colon + 1 : colon + 1 + size]
            tok = raw[colon + 1 + size : colon + 1 + size + _TOKEN]
            if len(tag) != size or len(tok) != _TOKEN:
                return None
            pairs.append((tag, tok))
            pos = colon + 1 + size + _TOKEN
    except ValueError:
        return None
    return pairs, raw[pos:]


def _b(tag: str) -> bytes:
    return tag.encode("utf-8", "surrogatepass")


class TagOps:
    """Tagged writes, checked reads and tag flushes on ``store``, metadata in ``meta``."""

    def __init__(self, store: Store, meta: Store) -> None:
        self.store = store
        self.meta = meta
        #: reads that check tags in the same round trip as the value (redis scripts); here a
        #: plain read, the envelope is checked after it
        self.get = store.get

    # -- reading ------------------------------------------------------------------------
    def unwrap(self, raw: bytes) -> bytes | None:
        """The value inside the envelope ``raw`` if every tag's version still matches, else None."""
        opened = open_envelope(raw)
        if opened is None:
            return None
        pairs, value = opened
        current = self.meta.many([f"v:{tag.decode('utf-8', 'surrogatepass')}" for tag, _ in pairs])
        for (_, tok), now in zip(pairs, current.values(), strict=True):
            if now != tok:
                return None
        return value

    # -- writing ------------------------------------------------------------------------
    def put(self, key: str, value: bytes, seconds: float | None, tags: list[str]) -> bool:
        """Store ``value`` under ``key`` tagged with ``tags``."""
        pairs, lives = self._versions(tags, seconds)
        self._register(tags, [key], seconds, lives)
        return self.store.put(key, envelope(pairs, value), seconds)

    def add(self, key: str, value: bytes, seconds: float | None, tags: list[str]) -> bool:
        """Store ``value`` only if ``key`` holds no live (and current) entry."""
        pairs, lives = self._versions(tags, seconds)
        self._register(tags, [key], seconds, lives)
        data = envelope(pairs, value)
        if self.store.add(key, data, seconds):
            return True
        raw = self.store.get(key)  # an entry a tag flush made stale does not count
        if raw is not None and raw[:2] == MARK and self.unwrap(raw) is None:
            self.store.forget(key)
            return self.store.add(key, data, seconds)
        return False

    def put_many(self, values: Mapping[str, bytes], seconds: float | None, tags: list[str]) -> bool:
        """Store every item of ``values`` tagged with ``tags``."""
        pairs, lives = self._versions(tags, seconds)
        self._register(tags, list(values), seconds, lives)
        return self.store.put_many({k: envelope(pairs, v) for k, v in values.items()}, seconds)

    def register(self, key: str, seconds: float | None, tags: list[str]) -> None:
        """Make ``key`` a member of ``tags`` (a counter: deleted by a flush, not versioned)."""
        _, lives = self._versions(tags, seconds)
        self._register(tags, [key], seconds, lives)

    # -- flushing -----------------------------------------------------------------------
    def flush(self, tags: list[str]) -> int:
        """Invalidate every entry of ``tags`` (a new version each), then delete the members for
        real, in batches; the number of member keys deleted."""
        meta, now, deleted = self.meta, self.store.clock(), 0
        for tag in tags:
            lives = meta.get(f"e:{tag}")
            meta.put(f"v:{tag}", token(), _remaining(lives, now, UNKNOWN_LIFETIME))
            deleted += self._delete_members(tag)
        return deleted

    def _delete_members(self, tag: str) -> int:
        meta, deleted = self.meta, 0
        start, end = _int(meta.get(f"f:{tag}")), _int(meta.get(f"n:{tag}"))
        for first in range(start, end, FLUSH_BATCH):
            names = [f"m:{tag}:{i}" for i in range(first, min(first + FLUSH_BATCH, end))]
            found = meta.many(names)
            keys = {raw.decode("utf-8", "surrogatepass") for raw in found.values() if raw is not None}
            deleted += self.store.forget_many(sorted(keys))
            meta.forget_many(names)
            meta.put(f"f:{tag}", b"%d" % min(first + FLUSH_BATCH, end), None)
        if end:
            meta.touch(f"f:{tag}", _remaining(meta.get(f"e:{tag}"), self.store.clock(), UNKNOWN_LIFETIME))
        return deleted

    # -- internals ----------------------------------------------------------------------
    def _versions(
        self, tags: list[str], seconds: float | None
    ) -> tuple[list[tuple[bytes, bytes]], list[bytes | None]]:
        """The current ``(tag, token)`` pairs (missing versions created) and each tag's recorded
        latest member expiry."""
        meta = self.meta
        names = [f"v:{t}" for t in tags] + [f"e:{t}" for t in tags]
        found = list(meta.many(names).values())
        pairs: list[tuple[bytes, bytes]] = []
        for i, tag in enumerate(tags):
            tok = found[i]
            if tok is None:
                fresh = token()
                tok = fresh if meta.add(f"v:{tag}", fresh, seconds) else (meta.get(f"v:{tag}") or fresh)
            pairs.append((_b(tag), tok))
        return pairs, found[len(tags) :]

    def _register(
        self, tags: list[str], keys: list[str], seconds: float | None, lives: list[bytes | None]
    ) -> None:
        """Add ``keys`` to each tag's member list and raise the tag's lifetime to cover them."""
        meta = self.meta
        expiry = math.inf if seconds is None else self.store.clock() + seconds
        for tag, known in zip(tags, lives, strict=True):
            first = meta.increment(f"n:{tag}", len(keys)) - len(keys)
            if len(keys) == 1:
                meta.put(f"m:{tag}:{first}", _b(keys[0]), seconds)
            else:
                meta.put_many({f"m:{tag}:{first + i}": _b(key) for i, key in enumerate(keys)}, seconds)
            if known is None or _float(known) < expiry:  # never lowered
                meta.put(f"e:{tag}", repr(expiry).encode("ascii"), seconds)
                for name in (f"v:{tag}", f"n:{tag}", f"f:{tag}"):
                    meta.touch(name, seconds)


def _int(raw: bytes | None) -> int:
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


def _float(raw: bytes) -> float:
    try:
        return float(raw)
    except ValueError:
        return -math.inf


def _remaining(lives: bytes | None, now: float, unknown: float) -> float | None:
    """Seconds until the recorded latest expiry ``lives`` (None: forever), at least 1."""
    if lives is None:
        return unknown
    expiry = _float(lives)
    if expiry == math.inf:
        return None
    return max(expiry - now, 1.0)
