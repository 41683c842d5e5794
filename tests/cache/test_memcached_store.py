"""What only the memcached store does: hashed keys, absolute TTLs, CAS lock release, errors.

The ``memcached_servers`` fixture gives each xdist worker a private server, so the
whole-server ``flush()`` cannot disturb anyone else.
"""

from __future__ import annotations

import gc
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("pymemcache")

from pymemcache.client.base import Client  # noqa: E402

from freight.cache.stores.memcached import (  # noqa: E402
    MAX_RELATIVE_TTL,
    MemcachedStore,
    create,
    expire_time,
    server_key,
)
from freight.cache.stores.memcached_clients import kernel_timeout_module  # noqa: E402
from freight.errors import CacheConnectionError, MissingDependencyError  # noqa: E402

DAY = 24 * 3600


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def store(memcached_servers: list[str], unique: str) -> Iterator[MemcachedStore]:
    made = create({"name": "m", "servers": memcached_servers, "prefix": unique}, None)
    yield made
    made.flush()
    made.close()


@pytest.fixture
def raw(memcached_servers: list[str]) -> Iterator[Client]:
    """A plain client on the (first) server, to look at what was really stored."""
    host, _, port = memcached_servers[0].rpartition(":")
    client = Client((host, int(port)), default_noreply=False)
    yield client
    client.close()


def _ttl(raw: Client, key: str) -> int:
    """The remaining TTL of ``key`` on the server (meta ``mg``; -1 for none)."""
    reply = raw.raw_command(f"mg {key} t")
    assert reply.startswith(b"HD"), reply
    return int(reply.split()[1][1:])


@pytest.mark.parametrize(
    "key",
    ["with space", "crlf\r\nset x 0 0 1", "tab\tand\x00nul", "\x7f", "ünïcødé", "x" * 300],
    ids=["space", "crlf", "control", "del", "unicode", "300-chars"],
)
def test_keys_memcached_cannot_take_are_hashed(
    store: MemcachedStore, raw: Client, unique: str, key: str
) -> None:
    sent = server_key(f"{unique}:1:{key}")
    assert sent.startswith("#") and len(sent) == 65 and sent[1:].isalnum()
    value = key.encode("utf-8", "surrogatepass")
    assert store.put(key, value, 60)
    assert store.get(key) == value
    assert raw.get(sent) == value, "stored under the hash"
    assert store.many([key, "other"]) == {key: value, "other": None}


def test_plain_keys_are_sent_as_they_are(store: MemcachedStore, raw: Client, unique: str) -> None:
    store.put("user:42", b"v", 60)
    assert raw.get(f"{unique}:1:user:42") == b"v"
    longest = "k" * (250 - len(unique) - 3)
    assert server_key(f"{unique}:1:{longest}") == f"{unique}:1:{longest}"
    assert server_key(f"{unique}:1:{longest}x").startswith("#"), "251 bytes is one too many"


def test_without_a_prefix_empty_and_hash_marked_keys_are_hashed(memcached_servers: list[str]) -> None:
    bare = create({"name": "bare", "servers": memcached_servers, "prefix": ""}, None)
    assert server_key("plain") == "plain"
    for key in ("", "#sha", "#" + "0" * 64):
        assert server_key(key).startswith("#") and server_key(key) != key
        assert bare.put(key, b"v" + key.encode(), 60)
        assert bare.get(key) == b"v" + key.encode()
    bare.close()


def test_a_crafted_key_cannot_write_another_key(store: MemcachedStore, raw: Client) -> None:
    crafted = "a 0 0 1\r\nx\r\nset victim 0 0 4\r\nevil"
    assert store.put(crafted, b"payload", 60)
    assert raw.get("victim") is None
    assert store.get(crafted) == b"payload"
    assert store.get("victim") is None


def test_no_two_keys_share_an_entry(store: MemcachedStore, unique: str) -> None:
    long_key = "y" * 400
    looks_hashed = server_key(f"{unique}:1:{long_key}")  # a short key spelling the hash of another
    store.put(long_key, b"long", 60)
    store.put(looks_hashed, b"impostor", 60)
    store.put(looks_hashed[1:], b"hex only", 60)
    assert store.get(long_key) == b"long"
    assert store.get(looks_hashed) == b"impostor"
    assert store.get(looks_hashed[1:]) == b"hex only"


def test_ttls_beyond_30_days_are_absolute_unix_times() -> None:
    now = 1_700_000_000.5
    assert expire_time(None, now) == 0
    assert expire_time(0.2, now) == 1, "whole seconds, rounded up, never 0 (forever)"
    assert expire_time(59.1, now) == 60
    assert expire_time(MAX_RELATIVE_TTL, now) == MAX_RELATIVE_TTL
    assert expire_time(MAX_RELATIVE_TTL + 1, now) == int(now) + MAX_RELATIVE_TTL + 1
    assert expire_time(365 * DAY, now) == int(now) + 365 * DAY


def test_a_long_ttl_is_kept_by_the_server(store: MemcachedStore, raw: Client, unique: str) -> None:
    store.put("long", b"v", 40 * DAY)
    store.put("month", b"v", 30 * DAY)
    store.add("added", b"v", 90 * DAY)
    # memcached's own clock ticks once a second, so an absolute expiry may read a second long
    assert 40 * DAY - 5 <= _ttl(raw, f"{unique}:1:long") <= 40 * DAY + 2
    assert 30 * DAY - 5 <= _ttl(raw, f"{unique}:1:month") <= 30 * DAY
    assert 90 * DAY - 5 <= _ttl(raw, f"{unique}:1:added") <= 90 * DAY + 2
    assert store.get("long") == b"v", "sent as a relative 40 days it would have expired at once"
    assert store.touch("month", 45 * DAY) and _ttl(raw, f"{unique}:1:month") > 40 * DAY


def test_counters_below_zero_keep_their_ttl(store: MemcachedStore, raw: Client, unique: str) -> None:
    store.put("n", b"5", 100)
    assert store.increment("n", -8) == -3, "memcached's decr would stop at 0"
    assert store.increment("n", 1) == -2, "incr refuses negative values: gets/cas takes over"
    assert store.increment("n", 10) == 8
    assert 90 <= _ttl(raw, f"{unique}:1:n") <= 100
    assert store.increment("forever", -1) == -1 and _ttl(raw, f"{unique}:1:forever") == -1


def test_lock_release_is_a_cas_that_never_deletes_another_owner(
    store: MemcachedStore, raw: Client, unique: str
) -> None:
    key = f"{unique}:lock:job"
    first = store.lock("job", 10)
    assert first.acquire()
    assert raw.get(key) == first.owner.encode() and 8 <= _ttl(raw, key) <= 10
    assert store.lock("job", 10).release() is False
    raw.set(key, b"someone-else", expire=10)  # first's TTL ran out and another owner took it
    assert first.release() is False
    assert raw.get(key) == b"someone-else"
    taker = store.lock("job", 10, owner="someone-else")
    assert taker.release() is True
    assert raw.get(key) is None
    assert first.acquire(), "a released lock is free at once"
    assert first.refresh(0) and _ttl(raw, key) == -1
    assert first.release()


def test_flush_clears_the_whole_server(
    memcached_servers: list[str], store: MemcachedStore, raw: Client
) -> None:
    neighbour = create({"name": "n", "servers": memcached_servers, "prefix": "someone-else"}, None)
    neighbour.put("k", b"theirs", 60)
    raw.set("not-freight", b"x")
    store.put("k", b"mine", 60)
    assert store.flush()
    assert store.get("k") is None and neighbour.get("k") is None and raw.get("not-freight") is None
    neighbour.close()


def test_a_dead_server_raises_cache_connection_error_naming_the_address() -> None:
    port = _free_port()
    dead = create({"name": "gone", "servers": [f"127.0.0.1:{port}"], "prefix": "p"}, None)
    started = time.monotonic()
    for call in (lambda: dead.get("k"), lambda: dead.put("k", b"v", 1), lambda: dead.increment("n")):
        with pytest.raises(CacheConnectionError, match=f"'gone'.*127.0.0.1:{port}") as caught:
            call()
        assert caught.value.__cause__ is not None
    assert time.monotonic() - started < 2


def test_a_server_that_never_answers_times_out_with_cache_connection_error() -> None:
    """The read timeout holds with kernel-enforced socket timeouts (no poll per call)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the backlog; nothing is ever read or sent
        port = silent.getsockname()[1]
        store = create({"name": "mute", "servers": [f"127.0.0.1:{port}"], "timeout": 0.2}, None)
        started = time.monotonic()
        with pytest.raises(CacheConnectionError, match=r"'mute'.*did not answer in time"):
            store.get("k")
        assert 0.15 < time.monotonic() - started < 2
        store.close()


def test_kernel_timeout_sockets_carry_the_timeout() -> None:
    sockets = kernel_timeout_module(0.25)
    if not sys.platform.startswith("linux"):
        assert sockets is None
        return
    assert sockets is not None and sockets.AF_INET == socket.AF_INET
    with sockets.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)
        seconds, micro = struct.unpack("ll", raw)
        assert seconds == 0 and abs(micro - 250_000) < 10_000  # the kernel rounds to its tick
        assert sock.gettimeout() is None  # a blocking socket: Python does not poll
    assert kernel_timeout_module(0) is None


def test_missing_pymemcache_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymemcache.client.base", None)
    with pytest.raises(MissingDependencyError, match=r"freight\[memcached\]"):
        create({"name": "m", "servers": ["127.0.0.1:1"]}, None)


@pytest.fixture
def two_servers() -> Iterator[dict[str, Any]]:
    """Two private memcached servers, ``{"host:port": process}`` (skipped without the binary)."""
    if not shutil.which("memcached"):
        pytest.skip("the memcached binary is not installed")
    servers: dict[str, Any] = {}
    for _ in range(2):
        port = _free_port()
        argv = ["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "16", "-u", "root"]
        servers[f"127.0.0.1:{port}"] = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    deadline = time.monotonic() + 5
    for server in servers:
        while True:
            try:
                socket.create_connection(("127.0.0.1", int(server.rpartition(":")[2])), 0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"memcached on {server} did not start"
                time.sleep(0.02)
    yield servers
    for proc in servers.values():
        proc.kill()
        proc.wait(5)


def test_keys_spread_over_several_servers_and_a_dead_one_reads_as_misses(
    two_servers: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    servers = list(two_servers)
    config = {"name": "pair", "servers": servers, "prefix": "p", "dead_timeout": 60}
    store = create(config, None)
    keys = [f"k{i}" for i in range(40)]
    assert store.put_many({k: k.encode() for k in keys}, 60)
    assert store.many(keys) == {k: k.encode() for k in keys}
    first = Client(("127.0.0.1", int(servers[0].rpartition(":")[2])))
    on_first = [k for k in keys if first.get(f"p:1:{k}") is not None]
    first.close()
    assert 0 < len(on_first) < len(keys), "rendezvous hashing uses both servers"
    assert store.flush() and store.many(keys) == {k: None for k in keys}, "flush clears every server"
    store.put_many({k: b"again" for k in keys}, 60)
    # stop the server holding k0: its keys become misses (and a warning), never errors
    owner = servers[0] if "k0" in on_first else servers[1]
    two_servers[owner].kill()
    two_servers[owner].wait(5)
    with caplog.at_level("WARNING", logger="freight.cache"):
        assert store.get("k0") is None
    assert any(owner in r.getMessage() and "down" in r.getMessage() for r in caplog.records)
    assert store.put("k0", b"moved", 60) is False, "not moved to the other server"
    survivors = [k for k in keys if (k in on_first) != (owner == servers[0])]
    assert store.many(keys) == {k: (b"again" if k in survivors else None) for k in keys}
    with pytest.raises(CacheConnectionError, match="down"):
        store.increment("k0")  # a counter is never made up
    store.close()


def test_one_server_gives_each_thread_its_own_plain_client_and_close_closes_them_all(
    memcached_servers: list[str], unique: str
) -> None:
    store = create({"name": "m", "servers": memcached_servers[:1], "prefix": unique}, None)
    seen: list[Any] = []

    def work() -> None:
        assert store.put("k", b"v", 10) and store.get("k") == b"v"
        seen.append(store.client)
        assert store.client is seen[-1], "one client per thread, kept"

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(client) for client in seen}) == 3
    assert all(type(client) is Client for client in seen)
    gc.collect()
    assert all(client.sock is None for client in seen), "closed when their threads ended"
    store.close()
    assert store.forget("k") and store.get("k") is None, "a closed store reconnects on use"
    store.close()


def test_each_threads_client_is_closed_when_the_thread_ends(store: MemcachedStore) -> None:
    """A server that starts a thread per request must not leak a connection per request."""
    assert store.threads is not None
    store.put("k", b"v", None)
    sockets: list[Any] = []

    def request() -> None:
        assert store.get("k") == b"v"
        sockets.append(store.client.sock)

    for _ in range(20):
        thread = threading.Thread(target=request)
        thread.start()
        thread.join()
    gc.collect()
    assert len(sockets) == 20 and all(sock is not None for sock in sockets)
    assert store.threads.live() == 1  # only the test thread's client is left
    assert all(sock.fileno() == -1 for sock in sockets), "a finished thread's socket is still open"
    assert store.get("k") == b"v"
    store.close()
    assert store.client.sock is None and store.get("k") == b"v"  # closed, then reconnects
