"""The memcached store's connections: per-thread clients, and sockets whose timeouts the
kernel enforces.

:class:`ThreadClients` gives each thread a plain pymemcache client of its own (no ring,
no pool) and closes it when the thread ends, so a server that starts a thread per
request does not leak a connection per request.

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
import threading
import types
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["ThreadClients", "kernel_timeout_module", "timed_out"]


class _Closer:
    """Closes its client when the last reference goes: when the thread holding it ends."""

    __slots__ = ("__weakref__", "client")

    def __init__(self, client: Any) -> None:
        self.client = client

    def __del__(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: S110 - a dying thread's socket; nothing left to tell
            pass


class ThreadClients:
    """One client per thread from ``connect``, closed when its thread ends or by :meth:`close_all`."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        #: ``local.client`` is the calling thread's client, once :meth:`make` has run in it
        self.local = threading.local()
        self._connect = connect
        self._closers: weakref.WeakSet[_Closer] = weakref.WeakSet()
        self._lock = threading.Lock()

    def make(self) -> Any:
        """Create the calling thread's client."""
        client = self._connect()
        closer = _Closer(client)
        self.local.client, self.local.closer = client, closer
        with self._lock:
            self._closers.add(closer)
        return client

    def live(self) -> int:
        """How many threads' clients are still open."""
        with self._lock:
            return len(self._closers)

    def forget(self) -> None:
        """In a forked child: start over with no client, letting the inherited ones go (their
        sockets are closed in this process only, never shut down for the parent)."""
        self.local = threading.local()
        self._closers = weakref.WeakSet()
        self._lock = threading.Lock()

    def close_all(self) -> None:
        """Close every thread's client (a thread that uses its client again reconnects)."""
        with self._lock:
            closers = list(self._closers)
        for closer in closers:
            closer.client.close()


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
