"""Charts as server-side SVG: no JavaScript, the same markup in the page, the PDF and the mail."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

FONT = "'WenQuanYi Micro Hei','Microsoft YaHei','PingFang SC',sans-serif"
COLOURS = ("#3b6fb6", "#2e9d5b", "#d9822b", "#c23b3b")


def bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    title: str,
    links: Sequence[Sequence[str | None]] | None = None,
    width: int = 640,
    height: int = 220,
) -> str:
    """Grouped vertical bars, one group per label, one bar per series; a bar may link to its findings."""
    top, bottom, left, right = 28, 34, 34, 8
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([1, *(v for _, values in series for v in values)])
    step = _nice_step(peak)
    peak = step * -(-peak // step)
    group_w = plot_w / max(1, len(labels))
    bar_w = max(2.0, (group_w - 6) / max(1, len(series)))
    out = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
            f'role="img" aria-label="{escape(title)}" font-family="{FONT}" font-size="11">'
        ),
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="14" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for tick in range(0, peak + 1, step):
        y = top + plot_h - plot_h * tick / peak
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#666">{tick}</text>')
    every = max(1, len(labels) // 12)
    for i, label in enumerate(labels):
        x0 = left + i * group_w + 3
        for s, (name, values) in enumerate(series):
            value = values[i]
            h = plot_h * value / peak
            x, y = x0 + s * bar_w, top + plot_h - h
            rect = (
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" '
                f'fill="{COLOURS[s % len(COLOURS)]}"><title>{escape(label)} {escape(name)}: {value}</title></rect>'
            )
            link = links[s][i] if links else None
            out.append(f'<a href="{escape(link)}">{rect}</a>' if link and value else rect)
        if i % every == 0:
            out.append(
                f'<text x="{x0 + (group_w - 6) / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
                f'fill="#444">{escape(label)}</text>'
            )
    lx = left
    for s, (name, _) in enumerate(series):
        out.append(
            f'<rect x="{lx}" y="{height - 12}" width="10" height="10" fill="{COLOURS[s % len(COLOURS)]}"/>'
        )
        out.append(f'<text x="{lx + 14}" y="{height - 3}">{escape(name)}</text>')
        lx += 14 + 8 * len(name) + 20
    out.append("</svg>")
    return "".join(out)


def hbars(
    rows: Sequence[tuple[str, int, str | None]], *, title: str, width: int = 640, colour: str = "#c23b3b"
) -> str:
    """Horizontal bars, one per (label, value, link), largest first as given."""
    row_h, top, label_w = 22, 24, 200
    height = top + row_h * max(1, len(rows)) + 6
    peak = max([1, *(v for _, v, _ in rows)])
    out = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
            f'aria-label="{escape(title)}" font-family="{FONT}" font-size="11"><title>{escape(title)}</title>'
        ),
        f'<text x="0" y="14" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (label, value, link) in enumerate(rows):
        y = top + i * row_h
        w = (width - label_w - 40) * value / peak
        out.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(label[:28])}</text>')
        rect = f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{colour}"/>'
        out.append(f'<a href="{escape(link)}">{rect}</a>' if link and value else rect)
        out.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 14}">{value}</text>')
    if not rows:
        out.append(f'<text x="0" y="{top + 14}" fill="#666">无 / none</text>')
    out.append("</svg>")
    return "".join(out)


def _nice_step(peak: int) -> int:
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000):
        if peak / step <= 5:
            return step
    return 10 ** len(str(peak))
