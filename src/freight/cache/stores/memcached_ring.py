"""A ring of memcached servers: rendezvous hashing, and a dead node reads as misses.

:class:`RingClient` stands where pymemcache's ``HashClient`` would, for the memcached
store configured with several ``servers``. Each key belongs to the server with the
highest ``blake2b(key, key=<server>)`` score (rendezvous, or highest-random-weight,
hashing): adding a fifth server moves about a fifth of the keys, all onto the new one,
and removing one moves only that server's keys.

A server that fails (refused, reset, timed out) is marked down for ``dead_timeout``
seconds and a warning is logged once (logger ``freight.cache``). While it is down its
keys are **misses**: reads return nothing, writes report "not stored", deletes
"not found"; its keys are *not* moved to the other servers, so when it answers again
(the first call after ``dead_timeout`` tries it) no stale copy written elsewhere
meanwhile can shadow its own. Counters (``incr``/``decr``) and compare-and-swap raise
instead, because a made-up counter is worse than an error: the store turns that into a
:class:`~freight.errors.CacheConnectionError`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

__all__ = ["RingClient", "RingNode", "owner"]

log = logging.getLogger("freight.cache")


def _seed(server: str) -> bytes:
    # blake2b keys are at most 64 bytes: a long address is hashed down to one
    raw = server.encode("utf-8")
    return raw if len(raw) <= 64 else hashlib.blake2b(raw, digest_size=32).digest()


def owner(key: str | bytes, seeds: Sequence[bytes]) -> int:
    """Index of the server owning ``key`` among servers with these seeds (rendezvous hashing)."""
    data = key.encode("utf-8", "surrogatepass") if isinstance(key, str) else key
    best, best_score = 0, b""
    for index, seed in enumerate(seeds):
        score = hashlib.blake2b(data, digest_size=8, key=seed).digest()
        if score > best_score:
            best, best_score = index, score
    return best


class RingNode:
    """One server of the ring: a pooled client and whether it is down."""

    __slots__ = ("address", "client", "down_until", "seed")

    def __init__(self, address: str, client: Any) -> None:
        self.address = address
        self.client = client
        self.seed = _seed(address)
        #: monotonic time until which the node is skipped (0: up)
        self.down_until = 0.0


class RingClient:
    """pymemcache's client API over several servers, spread by rendezvous hashing."""

    def __init__(
        self,
        servers: Sequence[str],
        connect: Callable[[str], Any],
        *,
        dead_timeout: float = 1.0,
        down_errors: tuple[type[BaseException], ...] = (OSError,),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.nodes = [RingNode(s, connect(s)) for s in servers]
        self._seeds = [n.seed for n in self.nodes]
        self.dead_timeout = dead_timeout
        self._down_errors = down_errors
        self._monotonic = monotonic
        self._lock = threading.Lock()

    # -- routing and health -------------------------------------------------------------
    def node_for(self, key: str) -> RingNode:
        """The node owning ``key``."""
        return self.nodes[owner(key, self._seeds)]

    def _available(self, node: RingNode) -> bool:
        return node.down_until == 0.0 or self._monotonic() >= node.down_until

    def _mark_down(self, node: RingNode, exc: BaseException) -> None:
        with self._lock:
            was_up = node.down_until == 0.0
            node.down_until = self._monotonic() + self.dead_timeout
        try:
            node.client.close()  # drop every pooled connection: they may all be dead
        except Exception:  # noqa: S110 - closing a broken pool; nothing more to tell
            pass
        if was_up:
            log.warning(
                "memcached %s is down (%s): its keys read as misses until it answers again "
                "(retried every %.1f s)",
                node.address,
                exc,
                self.dead_timeout,
            )

    def _mark_up(self, node: RingNode) -> None:
        if node.down_until:
            with self._lock:
                node.down_until = 0.0
            log.warning("memcached %s is back: it serves its keys again", node.address)

    def _call(self, node: RingNode, default: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        """``node.client.<method>(...)``, or ``default`` when the node is (or goes) down."""
        if not self._available(node):
            return default
        try:
            result = getattr(node.client, method)(*args, **kwargs)
        except self._down_errors as exc:
            self._mark_down(node, exc)
            return default
        if node.down_until:
            self._mark_up(node)
        return result

    def _strict(self, node: RingNode, method: str, *args: Any, **kwargs: Any) -> Any:
        """Like :meth:`_call`, but a down node raises (counters, CAS, raw commands)."""
        if not self._available(node):
            raise ConnectionError(f"memcached {node.address} is down (retried every {self.dead_timeout} s)")
        try:
            result = getattr(node.client, method)(*args, **kwargs)
        except self._down_errors as exc:
            self._mark_down(node, exc)
            raise
        if node.down_until:
            self._mark_up(node)
        return result

    # -- single keys: a down node is a miss ----------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        """get (None when the owning node is down)."""
        return self._call(self.node_for(key), default, "get", key, default)

    def set(self, key: str, value: Any, expire: int = 0, noreply: bool | None = None) -> bool:
        """set (False when the owning node is down)."""
        return bool(self._call(self.node_for(key), False, "set", key, value, expire=expire, noreply=noreply))

    def add(self, key: str, value: Any, expire: int = 0, noreply: bool | None = None) -> bool:
        """add (False when the owning node is down)."""
        return bool(self._call(self.node_for(key), False, "add", key, value, expire=expire, noreply=noreply))

    def delete(self, key: str, noreply: bool | None = None) -> bool:
        """delete (False when the owning node is down)."""
        return bool(self._call(self.node_for(key), False, "delete", key, noreply=noreply))

    def touch(self, key: str, expire: int = 0, noreply: bool | None = None) -> bool:
        """touch (False when the owning node is down)."""
        return bool(self._call(self.node_for(key), False, "touch", key, expire, noreply=noreply))

    def gets(self, key: str) -> tuple[Any, Any]:
        """gets; raises when the owning node is down."""
        return self._strict(self.node_for(key), "gets", key)  # type: ignore[no-any-return]

    def cas(self, key: str, value: Any, cas: Any, expire: int = 0, noreply: bool | None = None) -> Any:
        """cas; raises when the owning node is down."""
        return self._strict(self.node_for(key), "cas", key, value, cas, expire=expire, noreply=noreply)

    def incr(self, key: str, value: int, noreply: bool | None = False) -> Any:
        """incr; raises when the owning node is down."""
        return self._strict(self.node_for(key), "incr", key, value, noreply=noreply)

    def decr(self, key: str, value: int, noreply: bool | None = False) -> Any:
        """decr; raises when the owning node is down."""
        return self._strict(self.node_for(key), "decr", key, value, noreply=noreply)

    def raw_command(self, key: str, command: str) -> Any:
        """A raw command sent to the node owning ``key``; raises when it is down."""
        return self._strict(self.node_for(key), "raw_command", command)

    # -- many keys: one request per node --------------------------------------------------
    def _by_node(self, keys: Iterable[str]) -> dict[int, list[str]]:
        groups: dict[int, list[str]] = {}
        for key in keys:
            groups.setdefault(owner(key, self._seeds), []).append(key)
        return groups

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """get_many: one request per node; keys of a down node are missing."""
        found: dict[str, Any] = {}
        for index, group in self._by_node(keys).items():
            found.update(self._call(self.nodes[index], {}, "get_many", group))
        return found

    def set_many(self, values: Mapping[str, Any], expire: int = 0, noreply: bool | None = None) -> list[str]:
        """set_many: one request per node; returns the keys not stored (a down node's included)."""
        failed: list[str] = []
        for index, group in self._by_node(values).items():
            chunk = {k: values[k] for k in group}
            failed += self._call(self.nodes[index], group, "set_many", chunk, expire=expire, noreply=noreply)
        return failed

    def delete_many(self, keys: Iterable[str], noreply: bool | None = None) -> bool:
        """delete_many: one request per node; a down node's keys are skipped (they are misses)."""
        for index, group in self._by_node(keys).items():
            self._call(self.nodes[index], False, "delete_many", group, noreply=noreply)
        return True

    def flush_all(self, delay: int = 0, noreply: bool | None = None) -> bool:
        """flush_all on every node that answers."""
        for node in self.nodes:
            self._call(node, False, "flush_all", delay, noreply=noreply)
        return True

    def close(self) -> None:
        """Close every node's connections."""
        for node in self.nodes:
            node.client.close()
