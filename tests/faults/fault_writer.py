"""A file-store writer the torn-write test kills with SIGKILL: ``fault_writer.py PATH KEY SEED``.

It writes, as fast as it can, values whose content checks itself (``blob`` and its
SHA-256), of sizes from a few bytes to about 1 MB, so a torn or interleaved write would
show up as a value that does not decode or whose digest does not match.
"""

from __future__ import annotations

import hashlib
import random
import sys

from freight.cache.manager import CacheManager


def value(rng: random.Random, seed: str, n: int) -> dict[str, object]:
    size = rng.choice([10, 1_000, 50_000, 300_000, 1_000_000])
    blob = (f"{seed}-{n}-" * (size // 8 + 1))[:size]
    return {"writer": seed, "n": n, "blob": blob, "sha": hashlib.sha256(blob.encode()).hexdigest()}


def main() -> None:
    path, key, seed = sys.argv[1:4]
    repo = CacheManager({"default": "file", "stores": {"file": {"driver": "file", "path": path}}}).store()
    rng = random.Random(seed)
    n = 0
    print("writing", flush=True)
    while True:
        n += 1
        repo.put(key, value(rng, seed, n))
        repo.increment(key + "-counter")
        if n % 7 == 0:
            repo.forget(key)


if __name__ == "__main__":
    main()
