"""The memcached cache store (pymemcache: one plain client per thread on a single server,
a rendezvous-hashed :class:`~freight.cache.stores.memcached_ring.RingClient` over several,
where a dead server's keys are misses and a warning, not errors).

* Keys: ``"<escaped prefix>:<version>:<key>"``, sent as they are when memcached can
  take them (1 to 250 printable ASCII characters, no space or control character, not starting with
  ``#``); any other key is sent as ``"#" + sha256(<prefix>:<key>)``, so every string
  is a valid key, no key can smuggle a command into the text protocol, and no two
  keys share an entry. Locks live at ``"<escaped prefix>:lock:<name>"`` (mapped the same
  way).
* TTLs: whole seconds (rounded up); more than 30 days is sent as an absolute Unix time,
  as memcached requires.
* Atomicity: ``add`` and ``incr`` are native; a missing counter is created with
  ``add`` (a lost race retries ``incr``); a negative step or a negative counter goes
  through ``gets``/``cas``, keeping the TTL. Lock release is a compare-and-swap to an
  already-expired value, so it can never delete another owner's lock.
* ``flush()`` runs ``flush_all`` on every server: it clears the whole server, other
  prefixes and other applications included.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from freight import memcached_errors
from freight.cache.lock import Lock
from freight.cache.stores.base import Clock, Store, lock_prefix
from freight.cache.stores.memcached_clients import ThreadClients, kernel_timeout_module
from freight.cache.stores.memcached_ring import RingClient
from freight.connections import after_fork
from freight.errors import CACHE_ERRORS, CacheError, FreightError, MissingDependencyError
from freight.manager import clock_of

__all__ = ["MemcachedLock", "MemcachedStore", "create", "expire_time", "server_key"]

#: memcached takes relative TTLs up to 30 days; longer ones must be absolute Unix times
MAX_RELATIVE_TTL = 30 * 24 * 3600
#: attempts of an increment's add/incr or gets/cas loop before giving up under contention
CAS_ATTEMPTS = 100
_PLAIN_KEY = re.compile(r"[!-~]{1,250}")


def server_key(full_key: str) -> str:
    """The key sent to memcached for ``full_key`` (prefix included): itself, or its sha256."""
    if _PLAIN_KEY.fullmatch(full_key) and full_key[0] != "#":
        return full_key
    return "#" + hashlib.sha256(full_key.encode("utf-8", "surrogatepass")).hexdigest()


def expire_time(seconds: float | None, now: float) -> int:
    """memcached's exptime for a TTL: 0 for forever, whole seconds, absolute beyond 30 days."""
    if seconds is None:
        return 0
    whole = max(1, math.ceil(seconds))
    return whole if whole <= MAX_RELATIVE_TTL else int(now) + whole


def _digits(n: int) -> bytes:
    return str(n).encode("ascii")


class MemcachedStore(Store):
    """A cache store on memcached; ``flush()`` clears the whole server."""

    driver = "memcached"
    shared = True

    def __init__(
        self,
        client: Any,
        servers: list[str],
        *,
        name: str = "",
        prefix: str = "",
        clock: Clock = time.time,
        connect: Callable[[], Any] | None = None,
        version: int = 1,
    ) -> None:
        super().__init__(name=name, prefix=prefix, clock=clock, version=version)
        from pymemcache.exceptions import (
            MemcacheClientError,
            MemcacheUnknownCommandError,
        )

        #: the shared (thread-safe) client, or None when each thread gets its own from ``connect``
        self._shared: Any = None if connect is not None else client
        #: with one server, each thread's own client (closed when the thread ends)
        self.threads = ThreadClients(connect) if connect is not None else None
        self._local: Any = self.threads.local if self.threads is not None else None
        self.servers = servers
        self._address = "memcached://" + ",".join(servers)
        self._lock_prefix = lock_prefix(prefix)
        self._errors: tuple[type[Exception], ...] = memcached_errors.CLIENT_ERRORS
        self._client_error: type[Exception] = MemcacheClientError
        self._unknown_command: type[Exception] = MemcacheUnknownCommandError
        #: the server's clock, for absolute TTLs (memcached keeps real time, not the test clock)
        self.server_time: Clock = time.time
        after_fork(self, MemcachedStore._forget_sockets)

    def _forget_sockets(self) -> None:
        """In a forked child: never use the parent's sockets (each client reconnects)."""
        if self.threads is not None:
            self.threads.forget()
            self._local = self.threads.local
        if self._shared is not None:
            self._shared.close()

    def relayout(self) -> None:
        """Key names follow :attr:`key_prefix`."""

    @property
    def client(self) -> Any:
        """The pymemcache client for the calling thread (the shared one, or this thread's own)."""
        shared = self._shared
        if shared is not None:
            return shared
        try:
            return self._local.client
        except AttributeError:
            assert self.threads is not None
            return self.threads.make()

    # -- helpers ----------------------------------------------------------------------
    def _key(self, key: str) -> str:
        return server_key(self.key_prefix + key)

    def _expire(self, seconds: float | None) -> int:
        if seconds is None:
            return 0  # forever: no need for the server's time
        return expire_time(seconds, self.server_time())

    def _error(self, exc: Exception, action: str) -> FreightError:
        """The freight error for a pymemcache or socket exception raised while doing ``action``."""
        who = f"memcached cache store {self.name!r} at {self._address}"
        return memcached_errors.translate(exc, CACHE_ERRORS, who, action)

    # -- primitives -------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """get."""
        try:
            return self.client.get(server_key(self.key_prefix + key))  # type: ignore[no-any-return]
        except self._errors as exc:
            raise self._error(exc, "get") from exc

    def put(self, key: str, value: bytes, seconds: float | None) -> bool:
        """set."""
        try:
            return bool(
                self.client.set(
                    server_key(self.key_prefix + key), value, expire=self._expire(seconds), noreply=False
                )
            )
        except self._errors as exc:
            raise self._error(exc, "put") from exc

    def add(self, key: str, value: bytes, seconds: float | None) -> bool:
        """Native add: atomic on the server."""
        try:
            return bool(self.client.add(self._key(key), value, expire=self._expire(seconds), noreply=False))
        except self._errors as exc:
            raise self._error(exc, "add") from exc

    def increment(self, key: str, by: int = 1) -> int:
        """incr (add for a missing key); gets/cas for negative steps or counters."""
        k = self._key(key)
        try:
            for _ in range(CAS_ATTEMPTS):
                value: int | None
                if by >= 0:
                    try:
                        value = self.client.incr(k, by, noreply=False)
                    except self._client_error:  # a negative (or non-numeric) value: memcached can't
                        value = self._increment_cas(k, key, by)
                    else:
                        if value is None and self.client.add(k, _digits(by), expire=0, noreply=False):
                            return by
                else:
                    value = self._increment_cas(k, key, by)
                if value is not None:
                    return int(value)
        except self._errors as exc:
            raise self._error(exc, f"increment {key!r}") from exc
        raise CacheError(f"memcached cache store {self.name!r}: increment {key!r} lost {CAS_ATTEMPTS} races")

    def _increment_cas(self, k: str, key: str, by: int) -> int | None:
        """One gets/cas attempt; None when another client changed the value first."""
        current, token = self.client.gets(k)
        if current is None:
            return by if self.client.add(k, _digits(by), expire=0, noreply=False) else None
        try:
            new = int(current) + by
        except ValueError:
            raise CacheError(
                f"memcached cache store {self.name!r}: the value of {key!r} is not an integer"
            ) from None
        ttl = self._remaining_ttl(k, token)
        if ttl is None:
            return None
        return new if self.client.cas(k, _digits(new), token, expire=ttl, noreply=False) else None

    def _remaining_ttl(self, k: str, token: bytes) -> int | None:
        """The exptime that keeps ``k``'s current TTL (meta ``mg``); None if its CAS moved on."""
        try:
            if self._shared is None:
                reply: bytes = self.client.raw_command(f"mg {k} t c")
            else:  # the ring sends it to the node owning k
                reply = self._shared.raw_command(k, f"mg {k} t c")
        except self._unknown_command as exc:
            raise CacheError(
                f"memcached cache store {self.name!r}: counters below zero need memcached >= 1.6 "
                f"(meta commands) at {self._address}"
            ) from exc
        flags = dict((part[:1], part[1:]) for part in reply.split()[1:])
        if not reply.startswith(b"HD") or flags.get(b"c") != token:
            return None
        ttl = int(flags.get(b"t", b"-1"))
        return 0 if ttl < 0 else self._expire(max(ttl, 1))

    def forget(self, key: str) -> bool:
        """delete."""
        try:
            return bool(self.client.delete(self._key(key), noreply=False))
        except self._errors as exc:
            raise self._error(exc, "forget") from exc

    def touch(self, key: str, seconds: float | None) -> bool:
        """touch (exptime 0 for forever)."""
        try:
            return bool(self.client.touch(self._key(key), self._expire(seconds), noreply=False))
        except self._errors as exc:
            raise self._error(exc, "touch") from exc

    def flush(self) -> bool:
        """flush_all on every server: this clears the WHOLE server, not only this prefix."""
        try:
            self.client.flush_all(noreply=False)
        except self._errors as exc:
            raise self._error(exc, "flush") from exc
        return True

    def lock(self, name: str, seconds: float = 0, owner: str | None = None) -> MemcachedLock:
        """A lock taken with add and released with cas."""
        return MemcachedLock(self, name, seconds, owner)

    # -- derived operations --------------------------------------------------------------
    def many(self, keys: Iterable[str]) -> dict[str, bytes | None]:
        """get_many: one request per server."""
        names = {key: self._key(key) for key in keys}
        if not names:
            return {}
        try:
            found = self.client.get_many(list(set(names.values())))
        except self._errors as exc:
            raise self._error(exc, "get many") from exc
        return {key: found.get(k) for key, k in names.items()}

    def put_many(self, values: Mapping[str, bytes], seconds: float | None) -> bool:
        """set_many: one request per server."""
        if not values:
            return True
        mapped = {self._key(key): value for key, value in values.items()}
        try:
            failed = self.client.set_many(mapped, expire=self._expire(seconds), noreply=False)
        except self._errors as exc:
            raise self._error(exc, "put many") from exc
        return not failed

    def forget_many(self, keys: Iterable[str]) -> int:
        """delete_many: one request per server (memcached does not say how many existed)."""
        mapped = [self._key(key) for key in keys]
        if mapped:
            try:
                self.client.delete_many(mapped, noreply=False)
            except self._errors as exc:
                raise self._error(exc, "forget many") from exc
        return len(mapped)

    def describe(self) -> str:
        """The servers, ``memcached://host:port,...``."""
        return self._address

    def close(self) -> None:
        """Close every server connection (every thread's, on a single server)."""
        if self._shared is not None:
            self._shared.close()
        elif self.threads is not None:
            self.threads.close_all()


class MemcachedLock(Lock):
    """A lock on one memcached key whose value is the owner token."""

    def __init__(
        self, store: MemcachedStore, name: str, seconds: float = 0, owner: str | None = None
    ) -> None:
        super().__init__(name, seconds, owner)
        self._store = store
        self._key = server_key(store._lock_prefix + name)

    def _token(self) -> bytes:
        return self.owner.encode("utf-8", "surrogatepass")

    def _exptime(self, seconds: float) -> int:
        return self._store._expire(seconds) if seconds > 0 else 0

    def _swap_if_owned(self, value: bytes, exptime: int, action: str) -> bool:
        """gets, then cas ``value`` with ``exptime`` only if the token is this owner's."""
        store, client = self._store, self._store.client
        try:
            current, cas = client.gets(self._key)
            if current != self._token():
                return False
            return client.cas(self._key, value, cas, expire=exptime, noreply=False) is True
        except store._errors as exc:
            raise store._error(exc, f"{action} lock {self.name!r}") from exc

    def acquire(self) -> bool:
        """add: True only if nobody held the lock (its TTL ending frees it)."""
        store = self._store
        try:
            return bool(
                store.client.add(self._key, self._token(), expire=self._exptime(self.seconds), noreply=False)
            )
        except store._errors as exc:
            raise store._error(exc, f"acquire lock {self.name!r}") from exc

    def release(self) -> bool:
        """gets + cas to an already-expired value: a compare-and-delete."""
        return self._swap_if_owned(b"", -1, "release")

    def force_release(self) -> None:
        """delete, whoever holds the lock."""
        store = self._store
        try:
            store.client.delete(self._key, noreply=False)
        except store._errors as exc:
            raise store._error(exc, f"force-release lock {self.name!r}") from exc

    def current_owner(self) -> str | None:
        """The token stored in the lock key, if any."""
        store = self._store
        try:
            value = store.client.get(self._key)
        except store._errors as exc:
            raise store._error(exc, f"read lock {self.name!r}") from exc
        return None if value is None else bytes(value).decode("utf-8", "surrogatepass")

    def refresh(self, seconds: float | None = None) -> bool:
        """gets + cas with the new TTL, only for the owner."""
        exptime = self._exptime(self.seconds if seconds is None else seconds)
        return self._swap_if_owned(self._token(), exptime, "refresh")


def _servers(config: dict[str, Any]) -> list[str]:
    servers = config.get("servers", ["127.0.0.1:11211"])
    if isinstance(servers, str):
        servers = servers.split(",")
    return [str(s).strip() for s in servers if str(s).strip()]


def create(config: dict[str, Any], manager: Any) -> MemcachedStore:
    """Build a memcached store from its configuration (``servers``, ``connect_timeout``,
    ``timeout``, ``dead_timeout``, ``max_pool_size``; the last two only matter for several servers)."""
    try:
        from pymemcache.client.base import Client, PooledClient, normalize_server_spec
    except ImportError as exc:
        raise MissingDependencyError("pymemcache", "memcached", "memcached") from exc
    servers = _servers(config)
    connect_timeout = float(config.get("connect_timeout", 1.0))
    timeout = float(config.get("timeout", 1.0))
    name = str(config.get("name", ""))
    prefix = str(config.get("prefix", ""))
    clock = clock_of(config, manager)
    version = config.get("version", 1)
    if len(servers) == 1:
        # speed: one server gets a plain client per thread, which saves the ring lookup and the
        # pool checkout on every call
        server = normalize_server_spec(servers[0])  # (host, port), or a unix socket path
        # the kernel enforces the timeout: no poll() before every send and recv
        sockets = kernel_timeout_module(timeout)

        options: dict[str, Any] = {"timeout": timeout, "connect_timeout": connect_timeout}
        if sockets:
            options.update(timeout=None, socket_module=sockets)

        def connect() -> Any:
            return Client(server, no_delay=True, default_noreply=False, **options)

        return MemcachedStore(
            None, servers, name=name, prefix=prefix, clock=clock, connect=connect, version=version
        )
    # several servers: rendezvous hashing; a dead server's keys are misses (memcached_ring.py)
    from pymemcache.exceptions import MemcacheUnexpectedCloseError

    def pooled(address: str) -> Any:
        return PooledClient(
            normalize_server_spec(address),
            connect_timeout=connect_timeout,
            timeout=timeout,
            no_delay=True,
            max_pool_size=config.get("max_pool_size"),
            default_noreply=False,
        )

    client = RingClient(
        servers,
        pooled,
        dead_timeout=float(config.get("dead_timeout", 1.0)),
        down_errors=(OSError, MemcacheUnexpectedCloseError),
    )
    return MemcachedStore(client, servers, name=name, prefix=prefix, clock=clock, version=version)
