"""The pyramid's layer totals counted from the members' rollup, kept per process, so reading the
pyramid again costs a few small queries instead of a pass over every member.

It stays exact. What is kept is keyed by everything the count depends on:

- the merchant's rollup window (start, months) and its stamp, which moves in the same transaction
  as every write of a rollup row (a settlement or refund recomputed by the outbox, the window
  moving on at midnight, a window built again) and every member joining or leaving
  (`app.orders.figures`). The stamp is read before the count, so a count never passes for a
  stamp older than what it saw; a count that saw newer rows under an older stamp is only
  counted again;
- the thresholds in force (the merchant's own, or the day's defaults);
- the moment it was counted for. The rule compares moments with "now", so as now moves on a few
  members change layer without any write: a later moment, up to `MAX_STEP` after, takes the
  kept totals and moves only those members (`queries.pyramid_moves`); an earlier moment, or a
  later one further off, is counted whole again.

Each process keeps one entry per merchant; it is a few numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.analytics import queries
from app.db import db
from app.orders import figures
from tablerules.rfm import Layer, Thresholds

MAX_STEP = timedelta(hours=1)

Totals = dict[Layer, tuple[int, int, int]]  # layer: (members, visits, revenue in fen)


@dataclass(frozen=True)
class _Kept:
    start: datetime
    months: int
    stamp: int
    thresholds: Thresholds
    as_of: datetime
    totals: Totals


_kept: dict[int, _Kept] = {}


def layer_totals(merchant_id: int, start: datetime, months: int, as_of: datetime, t: Thresholds) -> Totals | None:
    """Each layer's (members, visits, revenue) at `as_of` for thresholds `t`, from the rollup
    holding the window from `start` (`months` long) — None when the committed rollup does not
    hold that window (then the caller reads the bills)."""
    window = figures.stamp(merchant_id)
    if window is None or window[:2] != (start, months):
        return None
    stamp = window[2]
    kept = _kept.get(merchant_id)
    if kept is not None and (kept.start, kept.months, kept.stamp, kept.thresholds) == (start, months, stamp, t):
        if kept.as_of == as_of:
            return dict(kept.totals)
        if kept.as_of < as_of <= kept.as_of + MAX_STEP:
            totals = _moved_on(merchant_id, kept, as_of)
            _kept[merchant_id] = _Kept(start, months, stamp, t, as_of, totals)
            return dict(totals)
    totals = {Layer(row.layer): (row.members, int(row.visits), int(row.revenue_cents))
              for row in db.session.execute(queries.pyramid_summary(merchant_id, start, as_of, t, rollup=True))}
    _kept[merchant_id] = _Kept(start, months, stamp, t, as_of, totals)
    return dict(totals)


def _moved_on(merchant_id: int, kept: _Kept, as_of: datetime) -> Totals:
    totals = {layer: list(figures) for layer, figures in kept.totals.items()}
    for row in db.session.execute(queries.pyramid_moves(merchant_id, kept.start, kept.as_of, as_of, kept.thresholds)):
        moved = (row.members, int(row.visits), int(row.revenue_cents))
        if row.was is not None:
            was = totals.setdefault(Layer(row.was), [0, 0, 0])
            for i, n in enumerate(moved):
                was[i] -= n
        now = totals.setdefault(Layer(row.now), [0, 0, 0])
        for i, n in enumerate(moved):
            now[i] += n
    return {layer: (m, v, r) for layer, (m, v, r) in totals.items() if m}


def forget() -> None:
    """Drop what this process keeps (it is counted again on the next read)."""
    _kept.clear()
