"""The pyramid chart as plain geometry for a server-made SVG (no script, so the strict CSP holds):
one trapezoid per layer, top of the pyramid first, and beside each its figures on one row."""

from __future__ import annotations

from tablerules.rfm import LayerSummary

WIDTH = 1000
HEADER = 34  # the column titles
ROW = 58
GAP = 6
CENTRE = 245
TOP_WIDTH = 70  # the pyramid's narrowest layer
STEP = 64  # each layer this much wider than the one above
SHARE_X, SHARE_WIDTH = 640, 190


def pyramid_chart(rows: list[LayerSummary]) -> dict:
    total_members = sum(r.members for r in rows)
    widest_share = max((r.revenue_share_permille for r in rows), default=0) or 1
    layers = []
    for index, row in enumerate(rows):
        top = HEADER + index * (ROW + GAP)
        upper, lower = TOP_WIDTH + index * STEP, TOP_WIDTH + (index + 1) * STEP
        points = [(CENTRE - upper / 2, top), (CENTRE + upper / 2, top), (CENTRE + lower / 2, top + ROW),
                  (CENTRE - lower / 2, top + ROW)]
        layers.append({
            "summary": row,
            "points": " ".join(f"{x:.1f},{y:.1f}" for x, y in points),
            "top": top, "middle": top + ROW / 2,
            "edge": CENTRE + (upper + lower) / 4 + 6,  # the right edge halfway down, a little apart
            "member_share_permille": (2 * 1000 * row.members + total_members) // (2 * total_members)
            if total_members else 0,
            "share_width": round(SHARE_WIDTH * row.revenue_share_permille / widest_share)
            if row.revenue_share_permille else 0,
        })
    return {"width": WIDTH, "height": HEADER + len(rows) * (ROW + GAP), "centre": CENTRE, "layers": layers,
            "share_x": SHARE_X, "share_width": SHARE_WIDTH, "total_members": total_members}


def permille_text(permille: int) -> str:
    """123 -> '12.3%'."""
    return f"{permille // 10}.{permille % 10}%"
