"""HTML of each dashboard view, built from the readers' dicts; every value is escaped here.

Each function returns the inside of ``<main>``; :mod:`freight.dashboard.wsgi` wraps it in
the layout. Actions are forms that POST with the CSRF token.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from freight.dashboard.charts import bar_chart, line_chart

__all__ = ["batches", "cache", "failed", "overview", "queues", "recent", "schedule", "workers"]


def e(value: Any) -> str:
    """``value`` as escaped text ("" for None)."""
    return "" if value is None else escape(str(value), quote=True)


def seconds(value: float | None) -> str:
    """A duration for people: 850 µs, 12.3 ms, 4.2 s."""
    if value is None:
        return "–"
    if value < 0.001:
        return f"{value * 1e6:.0f} µs"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f} s" if value < 120 else f"{value / 60:.1f} min"


def when(stamp: Any) -> str:
    """A Unix time as local ``YYYY-MM-DD HH:MM:SS``."""
    if not isinstance(stamp, int | float) or stamp <= 0:
        return "–"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Iterable[int] = ()) -> str:
    """A table; cells are already-escaped HTML; ``numeric`` columns are right-aligned."""
    right = set(numeric)
    head = "".join(f"<th{' class=num' if i in right else ''}>{escape(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i in right else ''}>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    if not body:
        body = f'<tr><td colspan="{len(headers)}" class="muted">nothing yet</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def card(label: str, value: Any, css: str = "") -> str:
    """One figure with its label."""
    figure = f'<div class="value {css}">{e(value)}</div>'
    return f'<div class="card">{figure}<div class="label">{e(label)}</div></div>'


def _percentile_cells(row: dict[str, Any]) -> list[str]:
    return [e(seconds(row.get(k))) for k in ("p50", "p95", "p99")]


def overview(data: dict[str, Any]) -> str:
    """Figures, throughput and failures per minute, percentiles, backlog per queue."""
    totals = data["totals"]
    cards = "".join(
        [
            card("processed (all time)", totals["processed"]),
            card("failed (all time)", totals["failed"], "bad" if totals["failed"] else ""),
            card("retried (all time)", totals["retried"]),
            card("jobs in the last hour", sum(data["processed_per_minute"]) + sum(data["failed_per_minute"])),
            card("workers alive", data["workers"], "ok" if data["workers"] else "muted"),
            card("failed jobs stored", "?" if data["failed_jobs"] is None else data["failed_jobs"]),
            card("wait p95", seconds(data["wait"]["p95"])),
            card("runtime p95", seconds(data["runtime"]["p95"])),
        ]
    )
    chart = line_chart(
        {"processed": data["processed_per_minute"], "failed": data["failed_per_minute"]},
        data["minutes"],
        title="jobs per minute, last hour",
    )
    backlog = bar_chart(
        [(f"{b['connection']}/{b['queue']}", float(b["size"] or 0)) for b in data["backlog"]],
        title="backlog per queue (now)",
    )
    percentiles = table(
        ["", "p50", "p95", "p99"],
        [
            ["wait (push to start)", *_percentile_cells(data["wait"])],
            ["runtime", *_percentile_cells(data["runtime"])],
        ],
        numeric=(1, 2, 3),
    )
    return (
        f'<div class="cards" id="overview-cards">{cards}</div>'
        f'<div class="grid2"><div class="panel" id="throughput">{chart}</div>'
        f'<div class="panel" id="backlog">{backlog}</div></div>'
        f"<h2>Percentiles, last hour</h2>{percentiles}"
    )


def queues(rows: list[dict[str, Any]]) -> str:
    """One row per queue."""
    body = [
        [
            e(r["connection"]),
            e(r["queue"]),
            e("?" if r["backlog"] is None else r["backlog"]),
            e(r["processed"]),
            f'<span class="{"bad" if r["failed"] else ""}">{e(r["failed"])}</span>',
            e(r["retried"]),
            e(r["per_minute"]),
            *[e(seconds(r["wait"][k])) for k in ("p50", "p95", "p99")],
            *[e(seconds(r["runtime"][k])) for k in ("p50", "p95", "p99")],
            "<br>".join(e(j) for j in r["jobs"]),
        ]
        for r in rows
    ]
    headers = ["connection", "queue", "backlog", "processed", "failed", "retried", "jobs/min (1 h)"]
    headers += ["wait p50", "wait p95", "wait p99", "run p50", "run p95", "run p99", "job classes"]
    return "<h2>Queues</h2>" + table(headers, body, numeric=range(2, 13))


def recent(rows: list[dict[str, Any]]) -> str:
    """The most recently finished jobs."""
    css = {"done": "ok", "failed": "bad", "retrying": "muted"}
    body = [
        [
            e(when(r.get("finished_at"))),
            f'<span class="{css.get(str(r.get("status")), "")}">{e(r.get("status"))}</span>',
            e(r.get("job")),
            e(f"{r.get('connection')}/{r.get('queue')}"),
            e(r.get("attempts")),
            e(seconds(r.get("runtime"))),
            e(r.get("error")),
            f"<code>{e(r.get('id'))}</code>",
        ]
        for r in rows
    ]
    return "<h2>Recent jobs</h2>" + table(
        ["finished", "status", "job", "queue", "attempt", "runtime", "error", "id"], body, numeric=(4, 5)
    )


def _form(base: str, action: str, label: str, csrf: str, css: str = "") -> str:
    return (
        f'<form class="inline" method="post" action="{e(base + action)}">'
        f'<input type="hidden" name="csrf" value="{e(csrf)}">'
        f'<button type="submit" class="{css}">{e(label)}</button></form>'
    )


def failed(rows: list[dict[str, Any]], base: str, csrf: str, flash: str = "") -> str:
    """Failed jobs with payload, exception and trace; retry, forget and retry-all."""
    items = []
    for r in rows:
        payload = r["payload"]
        pretty = (
            json.dumps(payload, indent=2, ensure_ascii=False) if not isinstance(payload, str) else payload
        )
        actions = (
            _form(base, f"/failed/{r['id']}/retry", "retry", csrf, "primary")
            + " "
            + _form(base, f"/failed/{r['id']}/forget", "forget", csrf, "danger")
        )
        items.append(
            f'<tr class="failed-job" data-id="{e(r["id"])}">'
            f"<td>{e(when(r['failed_at']))}</td><td>{e(r['job'])}</td>"
            f"<td>{e(r['connection'])}/{e(r['queue'])}</td>"
            f'<td><details><summary class="bad">{e(r["summary"])}</summary>'
            f'<h2>Payload</h2><pre class="payload">{e(pretty)}</pre>'
            f'<h2>Exception</h2><pre class="trace">{e(r["exception"])}</pre></details></td>'
            f"<td>{actions}</td></tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in ("failed", "job", "queue", "exception", ""))
    body = "".join(items) or '<tr><td colspan="5" class="muted">no failed jobs</td></tr>'
    note = f'<div class="flash">{e(flash)}</div>' if flash else ""
    retry_all = _form(base, "/failed/retry-all", f"retry all ({len(rows)})", csrf) if rows else ""
    listing = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f"{note}<h2>Failed jobs {retry_all}</h2>{listing}"


def workers(rows: list[dict[str, Any]]) -> str:
    """Workers, alive or stale, and what each runs."""
    body = []
    for w in rows:
        current = w.get("current") or {}
        running = (
            f"{e(current.get('job'))} <code>{e(current.get('id'))}</code>"
            if current
            else '<span class="muted">idle</span>'
        )
        body.append(
            [
                '<span class="ok">alive</span>' if w.get("alive") else '<span class="bad">stale</span>',
                e(w.get("host")),
                e(w.get("pid")),
                e(w.get("connection")),
                e(",".join(w.get("queues") or [])),
                running,
                e(w.get("processed")),
                e(f"{w.get('memory_mb', 0)} MiB"),
                e(when(w.get("started"))),
                e(when(w.get("seen"))),
            ]
        )
    headers = [
        "state",
        "host",
        "pid",
        "connection",
        "queues",
        "running",
        "jobs",
        "memory",
        "started",
        "last seen",
    ]
    return "<h2>Workers</h2>" + table(headers, body, numeric=(2, 6, 7))


def cache(data: dict[str, Any]) -> str:
    """Hit ratio per store over time; counters per store; top key groups."""
    ratio = line_chart(
        {s["store"]: s["ratio_per_minute"] for s in data["stores"]},
        data["minutes"],
        title="hit ratio per store, last hour",
        percent=True,
    )

    def ratio_text(row: dict[str, Any]) -> str:
        return "–" if row.get("hit_ratio") is None else f"{row['hit_ratio'] * 100:.1f}%"

    counters = (
        "hits",
        "misses",
        "writes",
        "deletes",
        "lock_waits",
        "tag_flushes",
        "flight_waits",
        "refreshes",
    )
    stores = table(
        ["store", "hit ratio", *counters],
        [[e(s["store"]), e(ratio_text(s)), *[e(s[c]) for c in counters]] for s in data["stores"]],
        numeric=range(1, 10),
    )
    groups = table(
        ["store", "key group", "hit ratio", "hits", "misses", "writes", "deletes"],
        [
            [e(g["store"]), e(g["group"]), e(ratio_text(g)), *[e(g[c]) for c in counters[:4]]]
            for g in data["key_groups"]
        ],
        numeric=range(2, 7),
    )
    return f'<div class="panel">{ratio}</div><h2>Stores</h2>{stores}<h2>Top key groups</h2>{groups}'


def schedule(rows: list[dict[str, Any]]) -> str:
    """Scheduled events with next and last runs."""
    body = []
    for r in rows:
        last = r.get("last_run") or {}
        outcome = last.get("outcome")
        css = "ok" if outcome == "ok" else "bad" if outcome == "failed" else "muted"
        body.append(
            [
                e(r.get("name")),
                e(r.get("kind")),
                f"<code>{e(r.get('expression'))}</code>",
                e(r.get("next_run")),
                e(when(last.get("started"))),
                f'<span class="{css}">{e(outcome or "never run")}</span>',
                e(last.get("detail")),
            ]
        )
    return "<h2>Schedule</h2>" + table(
        ["event", "kind", "when", "next run", "last run", "outcome", "detail"], body
    )


def batches(rows: list[dict[str, Any]], base: str, csrf: str) -> str:
    """Batches and their progress; cancel for a batch still running."""
    body = []
    for r in rows:
        state = "cancelled" if r.get("cancelled_at") else "finished" if r.get("finished_at") else "running"
        action = ""
        if state == "running":
            action = _form(base, f"/batches/{r['connection']}/{r['id']}/cancel", "cancel", csrf, "danger")
        body.append(
            [
                f"<code>{e(r['id'])}</code>",
                e(r.get("name")),
                e(r.get("connection")),
                e(state),
                e(r.get("total")),
                e(r.get("pending")),
                e(r.get("processed")),
                e(r.get("failed")),
                e(f"{r.get('progress')}%"),
                e(when(r.get("created_at"))),
                action,
            ]
        )
    headers = ["id", "name", "connection", "state", "jobs", "pending", "processed", "failed", "progress"]
    return "<h2>Batches</h2>" + table([*headers, "created", ""], body, numeric=range(4, 9))
