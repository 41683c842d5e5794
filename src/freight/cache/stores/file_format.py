"""The bytes of one file-store entry: an expiry, a checksum of the value, then the value.

An entry file is a 34-byte header followed by the encoded value::

    <expiry: 16 digits> <checksum: 16 hex digits>\\n<value>

The expiry is Unix milliseconds zero-padded to 16 digits, or all nines for "forever".
The checksum is BLAKE2b-64 of the value, so a file caught half-written (a first write
goes straight to its final name; a writer can be killed mid-write) reads as corrupt,
never as a shorter value.
"""

from __future__ import annotations

from hashlib import blake2b

__all__ = ["FOREVER", "FOREVER_EXPIRY", "HEADER_SIZE", "entry", "expired", "expiry_of", "value_of"]

HEADER_SIZE = 34
FOREVER = 9_999_999_999_999_999
#: the expiry field of an entry that never expires
FOREVER_EXPIRY = b"%016d" % FOREVER


def _checksum(value: bytes) -> bytes:
    return blake2b(value, digest_size=8).hexdigest().encode("ascii")


def entry(expiry: bytes, value: bytes) -> bytes:
    """The file content for ``value`` expiring at ``expiry`` (16 digits of Unix milliseconds)."""
    return b"%s %s\n%s" % (expiry, _checksum(value), value)


def expiry_of(data: bytes) -> int | None:
    """The expiry (Unix milliseconds) in an entry's header, or None when the header is malformed."""
    head = data[:16]
    if len(data) < HEADER_SIZE or data[16] != 32 or data[33] != 10 or not head.isdigit():
        return None
    return int(head)


def expired(expiry: int | None, now_ms: float) -> bool:
    """True for a malformed header (``expiry`` None) or an expiry at or before ``now_ms``."""
    return expiry is None or (expiry != FOREVER and expiry <= now_ms)


def value_of(data: bytes, now_ms: float) -> bytes | None:
    """The value in an entry's bytes, or None when it is expired at ``now_ms``, malformed or torn."""
    if expired(expiry_of(data), now_ms):
        return None
    value = data[HEADER_SIZE:]
    if data[17:33] != _checksum(value):
        return None
    return value
