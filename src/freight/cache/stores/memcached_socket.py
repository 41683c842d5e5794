"""Sockets for pymemcache whose read and write timeouts the kernel enforces.

A Python socket with a timeout polls before every ``send`` and ``recv``: two system
calls per step of every cache call. A blocking socket with ``SO_RCVTIMEO`` and
``SO_SNDTIMEO`` makes one, and still gives up after the timeout: the call fails with
``EAGAIN``, which Python raises as :class:`BlockingIOError` (an ``OSError``, so the
store reports it as a :class:`~freight.errors.CacheConnectionError`). pymemcache
accepts a ``socket_module``; :func:`kernel_timeout_module` builds one that hands out
such sockets. Linux only; elsewhere the store keeps Python's timeouts.
"""

from __future__ import annotations

import socket
import struct
import sys
import types
from typing import Any

__all__ = ["kernel_timeout_module", "timed_out"]


def kernel_timeout_module(timeout: float) -> types.ModuleType | None:
    """A stand-in for the ``socket`` module whose sockets time out after ``timeout`` seconds
    in the kernel; None where that is not available (then use Python's timeouts)."""
    if not sys.platform.startswith("linux") or timeout <= 0:
        return None
    whole = int(timeout)
    timeval = struct.pack("ll", whole, int(round((timeout - whole) * 1_000_000)))
    real_socket = socket.socket

    def make_socket(*args: Any, **kwargs: Any) -> socket.socket:
        sock = real_socket(*args, **kwargs)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
        return sock

    module = types.ModuleType("freight_memcached_socket", __doc__)
    module.__dict__.update({k: v for k, v in vars(socket).items() if not k.startswith("__")})
    module.socket = make_socket  # type: ignore[attr-defined]
    return module


def timed_out(exc: BaseException) -> bool:
    """True when ``exc`` is a kernel-enforced socket timeout (``EAGAIN`` on a blocking socket)."""
    return isinstance(exc, BlockingIOError)
