"""Torn writes (issue 5, item 6): file-store writers killed with SIGKILL in a tight loop
while readers read. A reader sees a complete value (old or new) or a miss, never garbage.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

from faultkit import HERE, PYTHON, Processes, report, scaled, worker_env

from freight.cache.manager import CacheManager
from freight.serialization import JsonCodec

KEY = "contended"
WRITERS = 2


def check(raw: bytes | None, codec: JsonCodec) -> str | None:
    """None when ``raw`` is a miss or a whole value; else what is wrong with it."""
    if raw is None:
        return None
    try:
        value: Any = codec.loads(raw)
    except Exception as exc:  # garbage of any kind is the failure we look for
        return f"undecodable ({len(raw)} bytes): {exc!r}"[:300]
    if not isinstance(value, dict) or hashlib.sha256(value["blob"].encode()).hexdigest() != value["sha"]:
        return f"value whose digest does not match ({len(raw)} bytes)"
    return None


def test_killed_writers_never_leave_garbage(procs: Processes, tmp_path: Path) -> None:
    path = tmp_path / "cache"
    rounds = scaled(300, 60)
    repo = CacheManager(
        {"default": "file", "stores": {"file": {"driver": "file", "path": str(path)}}}
    ).store()
    codec = JsonCodec()
    reads = {"total": 0, "hits": 0, "misses": 0}
    bad: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                raw = repo.store.get(KEY)
            except Exception as exc:  # an exception instead of a value or a miss is also a failure
                bad.append(f"read raised {exc!r}")
                continue
            reads["total"] += 1
            reads["hits" if raw is not None else "misses"] += 1
            problem = check(raw, codec)
            if problem:
                bad.append(problem)
            count = repo.get(KEY + "-counter")
            if count is not None and (type(count) is not int or count < 1):
                bad.append(f"counter read as {count!r}")
            value = repo.get(KEY)
            if value is not None and hashlib.sha256(value["blob"].encode()).hexdigest() != value["sha"]:
                bad.append("repository returned a value whose digest does not match")

    readers = [threading.Thread(target=reader, daemon=True) for _ in range(2)]
    for t in readers:
        t.start()
    rng = random.Random(5)
    spawner = procs.start(
        "writers", [PYTHON, str(HERE / "fault_writer.py"), str(path), KEY], env=worker_env(), pipes=True
    )
    assert spawner.popen.stdin is not None and spawner.popen.stdout is not None
    started = time.monotonic()
    try:
        for _ in range(rounds):
            pids = []
            for _ in range(WRITERS):
                spawner.popen.stdin.write(b"go\n")
                spawner.popen.stdin.flush()
                pids.append(int(spawner.popen.stdout.readline()))
            time.sleep(rng.uniform(0.005, 0.06))
            for pid in pids:
                os.kill(pid, signal.SIGKILL)  # a writer this test forked, by its pid
    finally:
        stop.set()
        for t in readers:
            t.join(10)
    elapsed = time.monotonic() - started
    leftovers = sorted(p.name for p in path.rglob("*") if p.is_file())
    report(
        "torn_writes",
        writer_kills=rounds * WRITERS,
        reads=reads,
        garbage=len(bad),
        seconds=round(elapsed, 1),
        files_left=len(leftovers),
    )
    assert not bad, f"{len(bad)} bad reads out of {reads['total']}, e.g. {bad[:5]}"
    assert reads["hits"] > 0, f"the readers never saw a value: {reads}"
    assert isinstance(repo.get(KEY + "-counter"), int)
