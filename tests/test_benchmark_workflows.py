"""Smoke test of benchmarks/workflows.py: every case drains a tiny batch of jobs on Redis."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the benchmarks package lives beside src/, not inside it
    sys.path.insert(0, str(ROOT))

from benchmarks import workflows  # noqa: E402


def test_every_case_drains(redis_url: str, unique: str) -> None:
    lines: list[str] = []
    medians = workflows.run(
        20, 1, {"driver": "redis", "url": redis_url, "prefix": f"bench-{unique}"}, lines.append
    )
    assert set(medians) == set(workflows.CASES)
    assert all(rate > 0 for rate in medians.values())
    assert len(lines) == 1 and lines[0].startswith("round 1: plain ")
