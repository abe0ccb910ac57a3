"""Small horizontal bar charts as inline SVG: drawn on the server, no script, no library."""

from __future__ import annotations

from html import escape

ROW = 22
LABEL_WIDTH = 300
BAR_WIDTH = 260


def bars(items: list[tuple[str, int]], title: str) -> str:
    if not items:
        return ""
    peak = max(v for _, v in items) or 1
    height = ROW * len(items) + 8
    rows = []
    for i, (label, value) in enumerate(items):
        y = i * ROW + 4
        width = max(1, round(BAR_WIDTH * value / peak))
        name = escape(label if len(label) <= 44 else label[:43] + "…")
        rows.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 14}" text-anchor="end">{name}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{width}" height="14" rx="2"></rect>'
            f'<text x="{LABEL_WIDTH + width + 4}" y="{y + 14}">{value}</text>'
        )
    total = LABEL_WIDTH + BAR_WIDTH + 60
    # Its natural size; the stylesheet shrinks it on narrow screens (the page's CSP allows no
    # style attributes).
    return (
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {total} {height}"'
        f' width="{total}" height="{height}">{"".join(rows)}</svg>'
    )
