"""The member pyramid of a merchant: every member scored by `tablerules.rfm` from one query over
the bills, the layers summarised, a layer's members listed, and the merchant's thresholds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext

from app.actor import Actor
from app.analytics import kept_pyramid, queries
from app.analytics.models import THRESHOLD_FIELDS, PyramidSettings
from app.audit.service import record
from app.db import db, utcnow
from app.errors import Unprocessable
from app.members.models import FiguresWindow
from app.menu.models import Category
from app.orders import figures as kept_figures
from app.tenants.models import Store
from tablerules import rfm
from tablerules.rfm import Figures, Layer, Thresholds


@dataclass(slots=True)  # not frozen: built once per member per request, and frozen init costs twice as much
class ScoredMember:
    id: int
    member_no: str
    name: str
    phone: str
    tier_id: int
    joined_at: datetime
    visits: int
    spend_cents: int
    last_visit_at: datetime | None
    figures: Figures
    layer: Layer

    @property
    def recency_days(self) -> int:
        return self.figures.seen_days


@dataclass(frozen=True)
class Scoring:
    """The pyramid as of one moment: the window, the thresholds in force and every member."""

    as_of: datetime
    window_months: int
    start: datetime
    thresholds: Thresholds
    defaults: Thresholds
    chosen: Mapping[str, int | None]  # what the merchant set (None: the default)
    members: list[ScoredMember]

    def summary(self) -> list[rfm.LayerSummary]:
        return rfm.summarise((m.layer, m.figures) for m in self.members)

    def of_layer(self, layer: Layer) -> list[ScoredMember]:
        return [m for m in self.members if m.layer is layer]


# The rollup holds the window up to this moment: it stands for a pyramid "as of now" (a bill
# paid in the last seconds is in it either way), not for one as of an earlier moment.
NOW_TOLERANCE = timedelta(minutes=1)


def reads_rollup(merchant_id: int, start: datetime, months: int, as_of: datetime) -> bool:
    """Whether the members' figures may be read from the rollup (`app.orders.figures`)."""
    return as_of >= utcnow() - NOW_TOLERANCE and kept_figures.current(merchant_id, start, months)


def keep_figures(now: datetime, *, actor: Actor) -> str:
    """The scheduler's job for one merchant: the rollup brought to the window of `now`, and the
    quantiles of the default thresholds taken from it when the window moved on (so the pyramid's
    defaults hold for the day and cost no scan of every member on each read)."""
    merchant_id = actor.merchant_id
    settings = settings_of(merchant_id)
    months = settings.window_months if settings else rfm.DEFAULT_WINDOW_MONTHS
    start = rfm.window_start(now, months)
    done = kept_figures.keep_window(merchant_id, start, months, now=now)
    window = db.session.get(FiguresWindow, merchant_id)
    if done != "current" or window.quantiles is None:
        q = db.session.execute(queries.figure_quantiles(merchant_id, start, now, rollup=True)).one()
        window.quantiles = {"n": q.n or 0, "median_last_visit_at": _iso(q.median_last_visit_at),
                            "p80_last_visit_at": _iso(q.p80_last_visit_at), "p75_visits": q.p75_visits,
                            "p75_spend_cents": None if q.p75_spend_cents is None else int(q.p75_spend_cents)}
    return done


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _quantiles(merchant_id: int, start: datetime, as_of: datetime, rollup: bool) -> rfm.Quantiles | None:
    """The quantiles of the default thresholds: those kept with the rollup's window when it holds
    this one, otherwise counted now."""
    kept = db.session.get(FiguresWindow, merchant_id).quantiles if rollup else None
    if kept is not None:
        if not kept["n"]:
            return None
        return rfm.Quantiles(rfm.days_between(datetime.fromisoformat(kept["median_last_visit_at"]), as_of),
                             rfm.days_between(datetime.fromisoformat(kept["p80_last_visit_at"]), as_of),
                             int(kept["p75_visits"]), int(kept["p75_spend_cents"]))
    q = db.session.execute(queries.figure_quantiles(merchant_id, start, as_of, rollup=rollup)).one()
    return rfm.Quantiles(rfm.days_between(q.median_last_visit_at, as_of), rfm.days_between(q.p80_last_visit_at, as_of),
                         int(q.p75_visits), int(q.p75_spend_cents)) if q.n else None


def settings_of(merchant_id: int) -> PyramidSettings | None:
    return db.session.scalar(sa.select(PyramidSettings).where(PyramidSettings.merchant_id == merchant_id))


def score_members(merchant_id: int, as_of: datetime, *, window_months: int | None = None,
                  thresholds: Thresholds | None = None) -> Scoring:
    """Every member of the merchant who had joined by `as_of`, scored and placed in a layer (by
    `thresholds` when given, else by the merchant's own over the defaults of its data)."""
    settings = settings_of(merchant_id)
    months = window_months or (settings.window_months if settings else rfm.DEFAULT_WINDOW_MONTHS)
    start = rfm.window_start(as_of, months)
    rollup = reads_rollup(merchant_id, start, months, as_of)
    rows = db.session.execute(queries.member_figures(merchant_id, start, as_of, rollup=rollup)).all()
    figures = [rfm.figures(as_of, row.joined_at, row.visits, int(row.spend_cents), row.last_visit_at)
               for row in rows]
    chosen = settings.chosen() if settings else dict.fromkeys(THRESHOLD_FIELDS)
    days = rfm.window_days(as_of, months)
    if rollup and db.session.get(FiguresWindow, merchant_id).quantiles is not None:
        # The day's defaults, as the pyramid counted in SQL takes them: one rule for every page.
        defaults = rfm.thresholds_from_quantiles(_quantiles(merchant_id, start, as_of, rollup), days)
    else:
        defaults = rfm.default_thresholds(figures, days)
    thresholds = thresholds or _in_force(chosen, defaults, days)
    members = [ScoredMember(row.id, row.member_no, row.name, row.phone, row.tier_id, row.joined_at, row.visits,
                            int(row.spend_cents), row.last_visit_at, member, rfm.classify(member, thresholds))
               for row, member in zip(rows, figures, strict=True)]
    return Scoring(as_of, months, start, thresholds, defaults, chosen, members)


@dataclass(frozen=True)
class Pyramid:
    """The pyramid counted in the database: the layers' figures, not each member."""

    as_of: datetime
    window_months: int
    start: datetime
    thresholds: Thresholds
    layers: list[rfm.LayerSummary]


def pyramid(merchant_id: int, as_of: datetime) -> Pyramid:
    """The layers' members, visits and revenue as `score_members(...).summary()` gives them, but
    counted in SQL (`queries.pyramid_summary`, the rule as a CASE), so no member row leaves the
    database: one statement for the quantiles of the defaults when the merchant has not set every
    threshold, one for the layers — or, from the rollup, the totals this process kept for the
    same rollup stamp and thresholds (`kept_pyramid`)."""
    months, start, thresholds = thresholds_in_force(merchant_id, as_of)
    rollup = reads_rollup(merchant_id, start, months, as_of)
    # From the rollup the totals are kept per process, keyed by the rollup's stamp (exact).
    totals = kept_pyramid.layer_totals(merchant_id, start, months, as_of, thresholds) if rollup else None
    if totals is None:
        totals = {Layer(row.layer): (row.members, int(row.visits), int(row.revenue_cents))
                  for row in db.session.execute(queries.pyramid_summary(merchant_id, start, as_of, thresholds,
                                                                        rollup=rollup))}
    return Pyramid(as_of, months, start, thresholds, rfm.summarise_totals(totals))


def thresholds_in_force(merchant_id: int, as_of: datetime) -> tuple[int, datetime, Thresholds]:
    """The window (months, start) and the thresholds in force at `as_of`, counted in the database
    (one statement for the quantiles of the defaults when the merchant has not set every one)."""
    settings = settings_of(merchant_id)
    months = settings.window_months if settings else rfm.DEFAULT_WINDOW_MONTHS
    start = rfm.window_start(as_of, months)
    days = rfm.window_days(as_of, months)
    chosen = settings.chosen() if settings else dict.fromkeys(THRESHOLD_FIELDS)
    rollup = reads_rollup(merchant_id, start, months, as_of)
    if any(value is None for value in chosen.values()):
        defaults = rfm.thresholds_from_quantiles(_quantiles(merchant_id, start, as_of, rollup), days)
    else:
        defaults = rfm.FALLBACK
    return months, start, _in_force(chosen, defaults, days)


def _merge(chosen: Mapping[str, int | None], defaults: Thresholds, days: int) -> Thresholds:
    """The merchant's thresholds over the defaults. A default may cross a threshold the merchant
    set (say its own lost_days below the data's active_days): then the default gives way."""
    merged = rfm.merge_thresholds(dict(chosen), defaults)
    if chosen.get("active_days") is None and merged.active_days >= merged.lost_days:
        merged = rfm.merge_thresholds({"active_days": max(1, merged.lost_days // 2)}, merged)
    if chosen.get("lost_days") is None and merged.lost_days <= merged.active_days:
        merged = rfm.merge_thresholds({"lost_days": min(days, 2 * merged.active_days)}, merged)
    return merged


def _in_force(chosen: Mapping[str, int | None], defaults: Thresholds, days: int) -> Thresholds:
    try:
        return _merge(chosen, defaults, days).check(days)
    except rfm.InvalidThresholds:
        return defaults  # only after a shorter window (say, a leap day fewer) under a saved threshold


@dataclass(frozen=True)
class Movement:
    """Who moved between layers from `before` to `after`, both scored by the same thresholds
    (those in force at `after`), so a move is the member's doing, not a threshold's."""

    before: datetime
    after: datetime
    thresholds: Thresholds
    counts: Mapping[tuple[Layer | None, Layer], int]  # (layer before or None: joined since, layer after)

    def count(self, before: Layer | None, after: Layer) -> int:
        return self.counts.get((before, after), 0)

    @property
    def up(self) -> int:
        return sum(n for (a, b), n in self.counts.items() if a is not None and b.rank > a.rank)

    @property
    def down(self) -> int:
        return sum(n for (a, b), n in self.counts.items() if a is not None and b.rank < a.rank)

    @property
    def stayed(self) -> int:
        return sum(n for (a, b), n in self.counts.items() if a is b)

    @property
    def joined(self) -> int:
        return sum(n for (a, _b), n in self.counts.items() if a is None)


def movement(merchant_id: int, after: datetime, *, months: int = 1, current: Scoring | None = None) -> Movement:
    """Each member's layer `months` calendar months before `after` against their layer at `after`
    (`current`: the scoring at `after`, when the caller has it already)."""
    now = current if current is not None and current.as_of == after else score_members(merchant_id, after)
    before = score_members(merchant_id, rfm.window_start(after, months), thresholds=now.thresholds)
    earlier = {m.id: m.layer for m in before.members}
    counts: dict[tuple[Layer | None, Layer], int] = {}
    for member in now.members:
        key = (earlier.get(member.id), member.layer)
        counts[key] = counts.get(key, 0) + 1
    return Movement(before.as_of, after, now.thresholds, counts)


SORTS = {
    "spend": lambda m: m.spend_cents,
    "visits": lambda m: m.visits,
    "last_visit": lambda m: m.last_visit_at.timestamp() if m.last_visit_at else float("-inf"),
    "recency": lambda m: m.recency_days,
    "joined": lambda m: m.joined_at.timestamp(),
    "name": lambda m: m.name,
}


def sorted_members(members: list[ScoredMember], sort: str, descending: bool) -> list[ScoredMember]:
    """Sorted by `sort` (one of SORTS), ties by member id, so pages never overlap."""
    key = SORTS[sort]
    by_id = sorted(members, key=lambda m: m.id)
    return sorted(by_id, key=key, reverse=descending)


def update_settings(changes: Mapping[str, int | None], *, actor: Actor, now: datetime) -> PyramidSettings:
    """Set the window and thresholds given in `changes` (a None threshold goes back to the
    default); 422 naming the field when the result would not make sense."""
    settings = settings_of(actor.merchant_id)
    before = {"window_months": settings.window_months, **settings.chosen()} if settings else None
    months = changes.get("window_months") or (settings.window_months if settings else rfm.DEFAULT_WINDOW_MONTHS)
    defaults = score_members(actor.merchant_id, now, window_months=months).defaults
    chosen = {**(settings.chosen() if settings else dict.fromkeys(THRESHOLD_FIELDS)),
              **{name: value for name, value in changes.items() if name in THRESHOLD_FIELDS}}
    days = rfm.window_days(now, months)
    try:
        _merge(chosen, defaults, days).check(days)
    except rfm.InvalidThresholds as error:
        raise Unprocessable(gettext("These thresholds cannot place members sensibly."),
                            error_code="invalid_thresholds",
                            details={"fields": {error.field: [str(error)]}}) from None
    if settings is None:
        settings = PyramidSettings(merchant_id=actor.merchant_id)
        db.session.add(settings)
    settings.window_months = months
    for name, value in chosen.items():
        setattr(settings, name, value)
    settings.updated_at, settings.updated_by_id = now, actor.staff_id
    db.session.flush()
    record("pyramid.settings", settings, actor=actor, before=before,
           after={"window_months": settings.window_months, **settings.chosen()})
    return settings


# --- what a layer likes ------------------------------------------------------------------------

BILL_BANDS = [5_000, 10_000, 20_000, 40_000, 80_000]  # fen: <50, 50–100, …, ≥800 yuan
TOP_DISHES = 10


@dataclass(frozen=True)
class DishFigure:
    dish_id: int
    name: str
    name_en: str
    category_id: int | None
    qty: int
    revenue_cents: int
    visits: int  # visits that had the dish


@dataclass(frozen=True)
class CategoryFigure:
    category_id: int | None
    name: str
    name_en: str
    qty: int
    revenue_cents: int


@dataclass(frozen=True)
class StoreFigure:
    store_id: int
    name: str
    visits: int
    revenue_cents: int


@dataclass(frozen=True)
class Likes:
    """What a group of members ordered, when they came, where, and how big their bills were."""

    members: int
    visits: int
    revenue_cents: int
    top_by_qty: list[DishFigure]
    top_by_revenue: list[DishFigure]
    categories: list[CategoryFigure]  # by revenue, highest first
    weekdays: list[int]  # visits Monday … Sunday (local time)
    hours: list[int]  # visits by local hour 0 … 23
    stores: list[StoreFigure]  # most visited first
    bands: list[int]  # visits per bill band (BILL_BANDS)

    @property
    def avg_spend_per_visit_cents(self) -> int:
        return (2 * self.revenue_cents + self.visits) // (2 * self.visits) if self.visits else 0


def likes_of(merchant_id: int, scoring: Scoring, layer: Layer) -> Likes:
    """What the layer's members like, over their counted visits in the scoring's window."""
    ids = [m.id for m in scoring.of_layer(layer)]
    if not ids:
        return Likes(0, 0, 0, [], [], [], [0] * 7, [0] * 24, [], [0] * (len(BILL_BANDS) + 1))
    dialect = db.session.get_bind().dialect.name
    among = queries.members_among(ids, dialect)
    dishes = [DishFigure(r.dish_id, r.name, r.name_en or "", r.category_id, int(r.qty), int(r.revenue_cents),
                         r.visits)
              for r in db.session.execute(queries.dish_figures(merchant_id, scoring.start, scoring.as_of, among))]
    names = {c.id: c for c in db.session.scalars(sa.select(Category).where(Category.merchant_id == merchant_id))}
    by_category: dict[int | None, list[int]] = {}
    for dish in dishes:
        totals = by_category.setdefault(dish.category_id, [0, 0])
        totals[0] += dish.qty
        totals[1] += dish.revenue_cents
    categories = sorted(
        (CategoryFigure(cid, names[cid].name if cid in names else "—", names[cid].name_en if cid in names else "—",
                        qty, revenue) for cid, (qty, revenue) in by_category.items()),
        key=lambda c: (-c.revenue_cents, -c.qty, c.name))

    weekdays, hours, bands = [0] * 7, [0] * 24, [0] * (len(BILL_BANDS) + 1)
    stores: dict[int, list[int]] = {}
    visits = revenue = 0
    for r in db.session.execute(queries.visit_figures(merchant_id, scoring.start, scoring.as_of, among, dialect,
                                                      BILL_BANDS)):
        weekdays[int(r.weekday)] += r.visits
        hours[int(r.hour)] += r.visits
        bands[int(r.band)] += r.visits
        per_store = stores.setdefault(r.store_id, [0, 0])
        per_store[0] += r.visits
        per_store[1] += int(r.revenue_cents)
        visits += r.visits
        revenue += int(r.revenue_cents)
    store_names = {s.id: s.name for s in db.session.scalars(sa.select(Store).where(Store.merchant_id == merchant_id))}
    return Likes(
        members=len(ids), visits=visits, revenue_cents=revenue,
        top_by_qty=sorted(dishes, key=lambda d: (-d.qty, -d.revenue_cents, d.dish_id))[:TOP_DISHES],
        top_by_revenue=sorted(dishes, key=lambda d: (-d.revenue_cents, -d.qty, d.dish_id))[:TOP_DISHES],
        categories=categories, weekdays=weekdays, hours=hours,
        stores=sorted((StoreFigure(sid, store_names.get(sid, "—"), v, c) for sid, (v, c) in stores.items()),
                      key=lambda s: (-s.visits, s.store_id)),
        bands=bands)
