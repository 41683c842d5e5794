"""Private scale-out servers for the tests: a Redis Cluster, a Sentinel group, a memcached ring.

Started from the Debian binaries (``redis-server``, ``redis-cli``, ``memcached``) on
loopback ports 17000-17999, daemonised, once per machine: ``scripts/test`` runs
``python tests/serverkit.py up`` and the session fixtures call :func:`ensure` (under a
file lock, so pytest-xdist workers start them once). A running, healthy setup is
reused; an unhealthy one is stopped and started afresh. ``python tests/serverkit.py
down`` stops everything.

    cluster    3 masters + 3 replicas   127.0.0.1:17001-17006
    sentinel   master 17101, replica 17102, sentinels 17111-17113, service "freight-test"
    failover   the failover tests' own cluster 17021-17026 and sentinel group 17121/17122 +
               17131-17133, started by those tests and stopped after them
    ring       memcached 17201-17203 (ring N, for pytest-xdist worker gwN: 17201+3N..17203+3N,
               so one worker's flush_all never empties another's)
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HOST = "127.0.0.1"
CLUSTER_PORTS = tuple(range(17001, 17007))
SENTINEL_MASTER, SENTINEL_REPLICA = 17101, 17102
SENTINEL_PORTS = (17111, 17112, 17113)
SERVICE = "freight-test"
#: the failover tests' own setups (a failover must not disturb tests running on the shared ones)
FAILOVER_CLUSTER_PORTS = tuple(range(17021, 17027))
FAILOVER_SENTINEL = (17121, 17122, (17131, 17132, 17133))
RING_PORTS = (17201, 17202, 17203)


def ring_ports(index: int = 0) -> tuple[int, ...]:
    """The three ports of ring ``index`` (one per pytest-xdist worker)."""
    return tuple(p + 3 * index for p in RING_PORTS)


ROOT = Path(os.environ.get("FREIGHT_SCALEOUT_DIR", "/tmp/freight-scaleout"))


def _cli(port: int, *args: str, timeout: float = 5) -> str:
    out = subprocess.run(
        ["redis-cli", "-h", HOST, "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return out.stdout.strip()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait(predicate: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():  # type: ignore[operator]
                return
        except (OSError, subprocess.SubprocessError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"serverkit: {what} not ready after {seconds:.0f} s")


def _redis(port: int, *extra: str) -> None:
    work = ROOT / str(port)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    subprocess.run(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            HOST,
            "--daemonize",
            "yes",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(work),
            "--pidfile",
            str(work / "redis.pid"),
            "--logfile",
            str(work / "redis.log"),
            *extra,
        ],
        check=True,
    )


def _stop_pidfile(pidfile: Path) -> None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _stop_ports(ports: tuple[int, ...]) -> None:
    for port in ports:
        for name in ("redis.pid", "memcached.pid"):
            _stop_pidfile(ROOT / str(port) / name)
    _wait(lambda: not any(_listening(p) for p in ports), 10, f"ports {ports} to close")


# -- cluster --------------------------------------------------------------------------------
def cluster_healthy(ports: tuple[int, ...] = CLUSTER_PORTS) -> bool:
    """Every node answers, the cluster state is ok, and it has three masters with a replica each."""
    if not all(_listening(p) for p in ports):
        return False
    info = _cli(ports[0], "cluster", "info")
    if "cluster_state:ok" not in info or "cluster_size:3" not in info:
        return False
    nodes = _cli(ports[0], "cluster", "nodes").splitlines()
    masters = [n for n in nodes if " master " in f" {n.split()[2].replace(',', ' ')} "]
    return len(nodes) == 6 and len(masters) == 3 and all("fail" not in n.split()[2] for n in nodes)


def start_cluster(ports: tuple[int, ...] = CLUSTER_PORTS) -> None:
    """Six cluster-enabled servers joined as three masters with one replica each."""
    _stop_ports(ports)
    for port in ports:
        _redis(
            port,
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
        )
    _wait(lambda: all(_listening(p) for p in ports), 10, "cluster nodes")
    subprocess.run(
        ["redis-cli", "--cluster", "create", *(f"{HOST}:{p}" for p in ports)]
        + ["--cluster-replicas", "1", "--cluster-yes"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    _wait(lambda: cluster_healthy(ports), 30, "redis cluster")


# -- sentinel -------------------------------------------------------------------------------
Sentinels = tuple[int, int, tuple[int, ...]]
SHARED_SENTINEL: Sentinels = (SENTINEL_MASTER, SENTINEL_REPLICA, SENTINEL_PORTS)


def sentinel_master(setup: Sentinels = SHARED_SENTINEL) -> tuple[str, int] | None:
    """The master the sentinels agree on, or None."""
    reply = _cli(setup[2][0], "sentinel", "get-master-addr-by-name", SERVICE).split()
    return (reply[0], int(reply[1])) if len(reply) == 2 else None


def sentinel_healthy(setup: Sentinels = SHARED_SENTINEL) -> bool:
    """Three sentinels see the master, which answers as a master with one online replica."""
    master_port, replica_port, sentinels = setup
    if not all(_listening(p) for p in (master_port, replica_port, *sentinels)):
        return False
    master = sentinel_master(setup)
    if master is None:
        return False
    info = _cli(master[1], "info", "replication")
    if "role:master" not in info or "connected_slaves:1" not in info or "state=online" not in info:
        return False
    for port in sentinels:
        state = _cli(port, "sentinel", "master", SERVICE)
        if "num-other-sentinels\n2" not in state or "s_down" in state or "o_down" in state:
            return False
    return True


def start_sentinel(setup: Sentinels = SHARED_SENTINEL) -> None:
    """A master, its replica and three sentinels watching it (quorum 2, 1 s down-after)."""
    master_port, replica_port, sentinels = setup
    _stop_ports((master_port, replica_port, *sentinels))
    _redis(master_port, "--repl-diskless-sync-delay", "0")
    _redis(replica_port, "--repl-diskless-sync-delay", "0", "--replicaof", HOST, str(master_port))
    for port in sentinels:
        work = ROOT / str(port)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        conf = work / "sentinel.conf"
        conf.write_text(
            f"port {port}\nbind {HOST}\ndaemonize yes\ndir {work}\n"
            f"pidfile {work / 'redis.pid'}\nlogfile {work / 'sentinel.log'}\n"
            f"sentinel monitor {SERVICE} {HOST} {master_port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 5000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        subprocess.run(["redis-server", str(conf), "--sentinel"], check=True)
    _wait(lambda: sentinel_healthy(setup), 30, "redis sentinel")


# -- memcached ring ---------------------------------------------------------------------------
def memcached_up(port: int) -> bool:
    """True when a memcached answers ``version`` on ``port``."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as s:
            s.sendall(b"version\r\n")
            return s.recv(64).startswith(b"VERSION")
    except OSError:
        return False


def start_memcached(port: int, *, daemon: bool = True) -> subprocess.Popen[bytes] | None:
    """One memcached on ``port``: daemonised (pid file under ROOT), or a child process."""
    user = ["-u", "root"] if os.geteuid() == 0 else []
    command = ["memcached", "-l", HOST, "-p", str(port), "-U", "0", "-m", "32", *user]
    if daemon:
        work = ROOT / str(port)
        work.mkdir(parents=True, exist_ok=True)
        subprocess.run([*command, "-d", "-P", str(work / "memcached.pid")], check=True)
        _wait(lambda: memcached_up(port), 10, f"memcached {port}")
        return None
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait(lambda: memcached_up(port), 10, f"memcached {port}")
    return proc


def ring_healthy(index: int = 0) -> bool:
    """Every node of ring ``index`` answers."""
    return all(memcached_up(p) for p in ring_ports(index))


def start_ring(index: int = 0) -> None:
    """Three memcached nodes (ring ``index``)."""
    _stop_ports(ring_ports(index))
    for port in ring_ports(index):
        start_memcached(port)


SETUPS = {
    "cluster": (cluster_healthy, start_cluster, ("redis-server", "redis-cli")),
    "sentinel": (sentinel_healthy, start_sentinel, ("redis-server", "redis-cli")),
    "ring": (ring_healthy, start_ring, ("memcached",)),
}


def ensure(name: str, index: int = 0) -> None:
    """Start setup ``name`` unless it already runs healthy (once across processes: a file lock);
    ``index`` picks one of several memcached rings."""
    healthy, start, binaries = SETUPS[name]
    missing = [b for b in binaries if shutil.which(b) is None]
    if missing:
        raise RuntimeError(
            f"serverkit: {name} needs {', '.join(missing)} (apt-get install redis-server memcached)"
        )
    ROOT.mkdir(parents=True, exist_ok=True)
    with open(ROOT / f"{name}{index or ''}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if name == "ring":
            if not ring_healthy(index):
                start_ring(index)
            return
        if healthy():
            return
        ports = CLUSTER_PORTS if name == "cluster" else (SENTINEL_MASTER, SENTINEL_REPLICA, *SENTINEL_PORTS)
        if all(_listening(p) for p in ports):  # running: maybe mid-failover, give it time
            try:
                _wait(healthy, 30, name)
                return
            except RuntimeError:
                pass
        start()


def stop(ports: tuple[int, ...]) -> None:
    """Stop the servers on ``ports`` started by this module."""
    _stop_ports(ports)


def stop_all() -> None:
    """Stop every server this module starts."""
    rings = tuple(p for i in range(8) for p in ring_ports(i) if (ROOT / str(p)).exists())
    failover = FAILOVER_CLUSTER_PORTS + FAILOVER_SENTINEL[:2] + FAILOVER_SENTINEL[2]
    _stop_ports(CLUSTER_PORTS + (SENTINEL_MASTER, SENTINEL_REPLICA) + SENTINEL_PORTS + rings + failover)


if __name__ == "__main__":
    action = sys.argv[1] if len(sys.argv) > 1 else "up"
    if action == "down":
        stop_all()
    else:
        for setup in sys.argv[2:] or list(SETUPS):
            t0 = time.monotonic()
            ensure(setup)
            print(f"{setup}: ready ({time.monotonic() - t0:.1f} s)")
