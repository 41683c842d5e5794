"""Presenting a run: markdown tables (printed and saved), the JSON record, the PNG chart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import Result, Skip
from benchmarks.targets import Check

__all__ = ["markdown", "write_chart", "write_json"]

QUEUE_OPS = ("push", "bulk", "drain")
CACHE_OPS = ("put", "get")


BACKEND_ORDER = ("redis", "postgres", "sqlite", "memory", "file", "memcached")


def _order(key: tuple[str, str]) -> tuple[int, int]:
    backend, library = key
    rank = BACKEND_ORDER.index(backend) if backend in BACKEND_ORDER else len(BACKEND_ORDER)
    return rank, 0 if library == "freight" else 1 if library.startswith("raw ") else 2


def _rows(results: Sequence[Result], suite: str) -> dict[tuple[str, str], dict[str, Result]]:
    """``{(backend, library): {operation: result}}``, grouped by backend, freight first."""
    rows: dict[tuple[str, str], dict[str, Result]] = {}
    for result in results:
        if result.suite == suite:
            rows.setdefault((result.backend, result.library), {})[result.operation] = result
    return {key: rows[key] for key in sorted(rows, key=_order)}


def _cell(result: Result | None) -> str:
    return "—" if result is None else f"{result.rate:,.0f}"


def _cpu(ops_done: dict[str, Result], ops: Sequence[str]) -> str:
    cells = [ops_done[op].extra.get("cpu_us") if op in ops_done else None for op in ops]
    return " / ".join("—" if c is None else f"{c:,.0f}" for c in cells)


def _table(results: Sequence[Result], suite: str, ops: Sequence[str]) -> list[str]:
    rows = _rows(results, suite)
    if not rows:
        return []
    unit = "jobs/s" if suite == "queue" else "ops/s"
    cpu_ops = [op for op in ops if op != "drain"]
    cpu_head = f"client CPU µs/op ({' / '.join(cpu_ops)})"
    head = ["backend", "library", *[f"{op} {unit}" for op in ops], cpu_head, "n", "notes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (backend, library), ops_done in rows.items():
        any_result = next(iter(ops_done.values()))
        notes = []
        drain = ops_done.get("drain")
        if drain is not None:
            notes.append(f"worker start-up {drain.extra.get('startup', 0):.2f} s")
            if drain.extra.get("ack_lag"):
                notes.append(f"acks lag {drain.extra['ack_lag'] * 1000:.0f} ms")
        if any_result.extra.get("note"):
            notes.append(str(any_result.extra["note"]))
        name = f"**{library}**" if library == "freight" else library
        rates = [_cell(ops_done.get(op)) for op in ops]
        cells = [backend, name, *rates, _cpu(ops_done, cpu_ops), f"{any_result.n:,}", "; ".join(notes)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(
    results: Sequence[Result],
    skips: Sequence[Skip],
    checks: Sequence[Check] = (),
    memory: dict[str, Any] | None = None,
) -> str:
    """The run as markdown: queue table, cache table, memory, targets, skipped benchmarks."""
    out: list[str] = []
    queue = _table(results, "queue", QUEUE_OPS)
    if queue:
        out += ["### Queue: no-op jobs, one worker process", "", *queue, ""]
    cache = _table(results, "cache", CACHE_OPS)
    if cache:
        out += ["### Cache: put and get of a small dict", "", *cache, ""]
    if memory:
        mib = {k: memory[f"rss_{k}_kib"] / 1024 for k in ("first", "tenth", "last")}
        out += [
            "### Worker memory (freight, redis)",
            "",
            f"{memory['jobs']:,} jobs in {memory['seconds']:.1f} s: RSS {mib['first']:.1f} MiB at the "
            f"first job, {mib['tenth']:.1f} MiB after a tenth, {mib['last']:.1f} MiB at the last "
            f"({memory['growth']:+.1%} overall, {memory['growth_after_warmup']:+.1%} after the first tenth).",
            "",
        ]
    if checks:
        out += ["### Targets (issue 7)", "", "| target | measured | met |", "|---|---|---|"]
        marks = {True: "yes", False: "**no**", None: "not measured"}
        out += [f"| {c.target} | {c.measured} | {marks[c.ok]} |" for c in checks]
        out.append("")
    if skips:
        out += ["### Not run", ""]
        out += [f"- {s.suite} / {s.backend} / {s.library}: {s.reason}" for s in skips]
        out.append("")
    return "\n".join(out)


def write_json(
    path: Path,
    *,
    meta: dict[str, Any],
    results: Sequence[Result],
    skips: Sequence[Skip],
    checks: Sequence[Check],
    memory: dict[str, Any] | None,
) -> None:
    """The whole run as JSON."""
    data = {
        "meta": meta,
        "results": [r.as_dict() for r in results],
        "skipped": [vars(s) for s in skips],
        "memory": memory,
        "targets": [c.as_dict() for c in checks],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


def _panel(ax: Any, results: Sequence[Result], suite: str, ops: Sequence[str], title: str) -> None:
    rows = _rows(results, suite)
    labels = [f"{library} ({backend})" for backend, library in rows]
    height = 0.8 / len(ops)
    colors = {"push": "#4c72b0", "bulk": "#55a868", "drain": "#c44e52", "put": "#4c72b0", "get": "#dd8452"}
    for k, op in enumerate(ops):
        ys = [i + (k - (len(ops) - 1) / 2) * height for i in range(len(rows))]
        xs = [ops_done[op].rate if op in ops_done else 0 for ops_done in rows.values()]
        ax.barh(ys, xs, height=height, label=op, color=colors[op])
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels, fontsize=8)
    for tick, (_, library) in zip(ax.get_yticklabels(), rows, strict=True):
        if library == "freight":
            tick.set_fontweight("bold")
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("operations per second (log scale)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def write_chart(path: Path, results: Sequence[Result], n: int) -> bool:
    """Queue and cache rates as horizontal bars (log scale); False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    candidates = (
        ("queue", QUEUE_OPS, f"Queue: {n:,} no-op jobs, one worker process (jobs/s)"),
        ("cache", CACHE_OPS, f"Cache: {n:,} put / get of a small dict (operations/s)"),
    )
    panels = [panel for panel in candidates if _rows(results, panel[0])]
    if not panels:
        return False
    sizes = [max(2.0, 0.45 * len(_rows(results, s)) + 1) for s, _, _ in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, sum(sizes)), height_ratios=sizes, squeeze=False)
    for ax, (suite, ops, title) in zip(axes[:, 0], panels, strict=True):
        _panel(ax, results, suite, ops, title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
