"""File-store writers for the torn-write test: ``fault_writer.py PATH KEY``.

A spawner: for each line read on stdin it forks a writer child and prints the child's
pid; the test kills children with SIGKILL at random moments (forking is cheap, so the
test can kill hundreds of writers mid-write in a few seconds). A writer puts, as fast as
it can, values whose content checks itself (``blob`` and its SHA-256) of sizes from a
few bytes to about 1 MB, increments a counter and sometimes forgets the key, so a torn
or interleaved write would show up as a value that does not decode, or whose digest
does not match.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sys

from freight.cache.manager import CacheManager


def value(rng: random.Random, seed: str, n: int) -> dict[str, object]:
    size = rng.choice([10, 1_000, 50_000, 300_000, 1_000_000])
    blob = (f"{seed}-{n}-" * (size // 8 + 1))[:size]
    return {"writer": seed, "n": n, "blob": blob, "sha": hashlib.sha256(blob.encode()).hexdigest()}


def write_forever(path: str, key: str, seed: str) -> None:
    repo = CacheManager({"default": "file", "stores": {"file": {"driver": "file", "path": path}}}).store()
    rng = random.Random(seed)
    n = 0
    while True:
        n += 1
        repo.put(key, value(rng, seed, n))
        repo.increment(key + "-counter")
        if n % 7 == 0:
            repo.forget(key)


def main() -> None:
    path, key = sys.argv[1:3]
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # killed children are reaped by the kernel
    spawned = 0
    for _ in sys.stdin:
        spawned += 1
        pid = os.fork()
        if pid == 0:
            try:
                write_forever(path, key, f"{os.getpid()}-{spawned}")
            finally:
                os._exit(1)
        print(pid, flush=True)


if __name__ == "__main__":
    main()
