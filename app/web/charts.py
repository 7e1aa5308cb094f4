"""Small SVG charts drawn on the server: the incident report needs no script and no network.

Every text that reaches the SVG is escaped; colours are presentation attributes (not `style`),
so the charts pass a strict Content-Security-Policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#2f6fdf", "#d9534f", "#e8a33d", "#5cb85c", "#8e6bbf", "#5bc0de", "#777777")
WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 44


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step:
            return float(step)
    return float(value)


def _frame(labels: Sequence[str], top: float, unit: str, title: str) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        y = TOP + plot_h - plot_h * i / 4
        value = top * i / 4
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        out.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#555">'
            f"{value:g}{escape(unit)}</text>"
        )
    step = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        if i % step:
            continue
        x = LEFT + plot_w * (i + 0.5) / max(1, len(labels))
        out.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" font-size="11" fill="#555">'
            f"{escape(label)}</text>"
        )
    return out


def _legend(names: Sequence[str]) -> list[str]:
    out, x = [], LEFT
    for i, name in enumerate(names):
        colour = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{x}" y="{HEIGHT - 16}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{x + 14}" y="{HEIGHT - 7}" font-size="11" fill="#333">{escape(name)}</text>')
        x += 22 + 7 * len(name)
    return out


def stacked_bars(labels: Sequence[str], series: Sequence[Series], title: str) -> str:
    """One bar per label, stacked by series (incidents per week by type)."""
    totals = [sum((s.values[i] or 0) for s in series) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bar_w = plot_w / max(1, len(labels)) * 0.7
    out = _frame(labels, top, "", title)
    for i in range(len(labels)):
        x = LEFT + plot_w * (i + 0.5) / max(1, len(labels)) - bar_w / 2
        base = float(TOP + plot_h)
        for k, s in enumerate(series):
            value = s.values[i] or 0
            if value <= 0:
                continue
            h = plot_h * value / top
            base -= h
            out.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(labels[i])} {escape(s.name)}: '
                f"{value:g}</title></rect>"
            )
    out += _legend([s.name for s in series])
    out.append("</svg>")
    return "\n".join(out)


def lines(labels: Sequence[str], series: Sequence[Series], title: str, unit: str = "") -> str:
    """One line per series over the labels; gaps where a value is missing (a week without data)."""
    values = [v for s in series for v in s.values if v is not None]
    top = _nice_max(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    out = _frame(labels, top, unit, title)
    for k, s in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        points: list[str] = []
        segments: list[list[str]] = [points]
        for i, value in enumerate(s.values):
            if value is None:
                points = []
                segments.append(points)
                continue
            x = LEFT + plot_w * (i + 0.5) / max(1, len(labels))
            y = TOP + plot_h - plot_h * value / top
            points.append(f"{x:.1f},{y:.1f}")
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{escape(labels[i])} '
                f"{escape(s.name)}: {value:.3g}{escape(unit)}</title></circle>"
            )
        for segment in segments:
            if len(segment) > 1:
                out.append(
                    f'<polyline points="{" ".join(segment)}" fill="none" stroke="{colour}" stroke-width="2"/>'
                )
    out += _legend([s.name for s in series])
    out.append("</svg>")
    return "\n".join(out)


def hbars(items: Sequence[tuple[str, float]], title: str) -> str:
    """Horizontal bars with their values (reviews and actions follow-through)."""
    top = _nice_max(max((v for _, v in items), default=0))
    row_h, label_w = 26, 170
    height = TOP + row_h * len(items) + 8
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(items):
        y = TOP + i * row_h
        w = (WIDTH - label_w - 60) * value / top
        colour = PALETTE[i % len(PALETTE)]
        out.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" font-size="12" fill="#333">'
            f"{escape(label)}</text>"
        )
        out.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="16" fill="{colour}"/>')
        out.append(
            f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" font-size="12" fill="#333">{value:g}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)
