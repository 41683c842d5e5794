"""Inline SVG charts drawn on the server: no script, no file from anywhere else.

Every label that reaches the SVG goes through :func:`html.escape`.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence

__all__ = ["bar_chart", "line_chart"]

#: stroke colours of successive series (the first is the primary colour)
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * step:
            return float(factor * step)
    return float(value)


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'style="max-width:{width}px" xmlns="http://www.w3.org/2000/svg"><title>{html.escape(title)}</title>'
    )


def _label(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    return f"{value:g}" if value < 10000 else f"{value / 1000:.0f}k"


def line_chart(
    series: dict[str, Sequence[float | None]],
    times: Sequence[float],
    *,
    title: str,
    width: int = 640,
    height: int = 180,
    percent: bool = False,
) -> str:
    """A line chart of ``series`` (name -> one value per entry of ``times``; None is a gap)."""
    left, right, top, bottom = 44, 10, 22, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for points in series.values() for v in points if v is not None]
    ymax = 1.0 if percent else _nice_max(max(values, default=0))
    n = max(1, len(times) - 1)
    parts = [
        _open(width, height, title),
        f'<text x="{left}" y="14" class="chart-title">{html.escape(title)}</text>',
    ]
    for i in range(5):
        y = top + plot_h * i / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" class="grid"/>')
        tick = _label(ymax * (4 - i) / 4, percent)
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" class="axis" text-anchor="end">{tick}</text>')
    for index, anchor in ((0, "start"), (len(times) // 2, "middle"), (len(times) - 1, "end")):
        if 0 <= index < len(times):
            x = left + plot_w * index / n
            stamp = time.strftime("%H:%M", time.localtime(times[index]))
            parts.append(
                f'<text x="{x:.1f}" y="{height - 6}" class="axis" text-anchor="{anchor}">{stamp}</text>'
            )
    for colour_index, (name, points) in enumerate(series.items()):
        colour = COLOURS[colour_index % len(COLOURS)]
        segments: list[list[str]] = [[]]
        for i, point in enumerate(points):
            if point is None:
                segments.append([])
                continue
            px = left + plot_w * i / n
            py = top + plot_h * (1 - min(point, ymax) / ymax)
            segments[-1].append(f"{px:.1f},{py:.1f}")
        for segment in segments:
            if len(segment) == 1:
                cx, cy = segment[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{colour}"/>')
            elif segment:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(segment)}"/>'
                )
        lx = width - right - 110 * (len(series) - colour_index)
        parts.append(f'<rect x="{lx}" y="6" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 14}" y="15" class="legend">{html.escape(name[:14])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(items: Sequence[tuple[str, float]], *, title: str, width: int = 640) -> str:
    """Horizontal bars, one per (label, value)."""
    row, left, top = 22, 180, 24
    height = top + row * max(1, len(items)) + 8
    vmax = _nice_max(max((v for _, v in items), default=0))
    parts = [
        _open(width, height, title),
        f'<text x="4" y="14" class="chart-title">{html.escape(title)}</text>',
    ]
    if not items:
        parts.append(f'<text x="4" y="{top + 14}" class="axis">no data yet</text>')
    for i, (label, value) in enumerate(items):
        y = top + i * row
        w = (width - left - 60) * (value / vmax)
        name = html.escape(label[:28])
        parts.append(f'<text x="{left - 6}" y="{y + 14}" class="axis" text-anchor="end">{name}</text>')
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{COLOURS[0]}"/>')
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 14}" class="axis">{value:g}</text>')
    parts.append("</svg>")
    return "".join(parts)
