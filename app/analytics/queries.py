"""The reporting SQL of the analytics package: each function builds ONE statement over the raw
bills (`customer_order`, `order_line`), scoped to one merchant.

A visit is a paid order of a member (`status` PAID) paid inside the window; an order refunded in
full has status REFUNDED and is no visit, a partly refunded one counts with what the diner kept
(`paid_cents - refunded_cents`), and its refunded dishes (`refunded_qty`) leave the dish figures.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from app.members.models import Member, MemberFigures
from app.orders.models import Order, OrderLine
from app.orders.state import BILLABLE, OrderStatus


def _visits(merchant_id: int, start: datetime, end: datetime) -> sa.Select:
    """Per member: counted visits, what they kept paid, the last paid moment."""
    return (sa.select(Order.member_id,
                      sa.func.count(Order.id).label("visits"),
                      sa.func.sum(Order.paid_cents - Order.refunded_cents).label("spend_cents"),
                      sa.func.max(Order.paid_at).label("last_visit_at"))
            .where(Order.merchant_id == merchant_id, Order.status == OrderStatus.PAID,
                   Order.member_id.is_not(None), Order.paid_at >= start, Order.paid_at < end)
            .group_by(Order.member_id))


def member_figures(merchant_id: int, start: datetime, end: datetime, member_ids: Iterable[int] | None = None,
                   *, rollup: bool = False) -> sa.Select:
    """Every member who had joined by `end`, with their visits, spend and last visit in
    [start, end) — zeros and None without one. With `rollup`, the same figures are read from
    `member_figures` (`app.orders.figures`), which holds exactly the window from `start` to now:
    the caller checks it is current (`figures.current`) and that `end` is now."""
    if rollup:
        kept = MemberFigures
        query = (sa.select(Member.id, Member.member_no, Member.name, Member.phone, Member.tier_id,
                           Member.created_at.label("joined_at"),
                           sa.func.coalesce(kept.visits, 0).label("visits"),
                           sa.func.coalesce(kept.spend_cents, 0).label("spend_cents"),
                           kept.last_visit_at.label("last_visit_at"))
                 .outerjoin(kept, kept.member_id == Member.id)
                 .where(Member.merchant_id == merchant_id, Member.created_at <= end))
    else:
        visits = _visits(merchant_id, start, end).subquery("visits")
        query = (sa.select(Member.id, Member.member_no, Member.name, Member.phone, Member.tier_id,
                           Member.created_at.label("joined_at"),
                           sa.func.coalesce(visits.c.visits, 0).label("visits"),
                           sa.func.coalesce(visits.c.spend_cents, 0).label("spend_cents"),
                           sa.type_coerce(visits.c.last_visit_at, Order.paid_at.type).label("last_visit_at"))
                 .outerjoin(visits, visits.c.member_id == Member.id)
                 .where(Member.merchant_id == merchant_id, Member.created_at <= end))
    if member_ids is not None:
        query = query.where(Member.id.in_(list(member_ids)))
    return query


# --- what a group of members likes -------------------------------------------------------------

LOCAL_OFFSET_HOURS = 8  # Asia/Shanghai, no daylight saving: visits are bucketed by local day and hour


def members_among(member_ids: list[int], dialect: str) -> sa.ColumnElement[bool]:
    """The order's member is one of `member_ids`, however many: one array parameter on
    PostgreSQL, one JSON text on SQLite (a plain IN list would hit the drivers' parameter limits
    on a big layer)."""
    if dialect == "postgresql":
        return Order.member_id == sa.any_(sa.bindparam("member_ids", member_ids, type_=ARRAY(sa.Integer)))
    ids = sa.select(sa.column("value", sa.Integer)).select_from(
        sa.func.json_each(sa.bindparam("member_ids", json.dumps(member_ids))))
    return Order.member_id.in_(ids.scalar_subquery())


def _counted(merchant_id: int, start: datetime, end: datetime) -> list[sa.ColumnElement[bool]]:
    return [Order.merchant_id == merchant_id, Order.status == OrderStatus.PAID, Order.member_id.is_not(None),
            Order.paid_at >= start, Order.paid_at < end]


def dish_figures(merchant_id: int, start: datetime, end: datetime, members: sa.ColumnElement[bool]) -> sa.Select:
    """Per dish, over the counted visits of the members `members` selects: the quantity kept
    (ordered less refunded) and what it cost at the price on the bill before bill discounts,
    with the dish's last name and category."""
    kept = OrderLine.qty - OrderLine.refunded_qty
    return (sa.select(OrderLine.dish_id, sa.func.max(OrderLine.name).label("name"),
                      sa.func.max(OrderLine.name_en).label("name_en"),
                      sa.func.max(OrderLine.category_id).label("category_id"),
                      sa.func.sum(kept).label("qty"),
                      sa.func.sum(kept * OrderLine.unit_price_cents).label("revenue_cents"),
                      sa.func.count(sa.distinct(OrderLine.order_id)).label("visits"))
            .join(Order, Order.id == OrderLine.order_id)
            .where(*_counted(merchant_id, start, end), members, OrderLine.merchant_id == merchant_id,
                   OrderLine.status.in_(BILLABLE), kept > 0)
            .group_by(OrderLine.dish_id))


def visit_figures(merchant_id: int, start: datetime, end: datetime, members: sa.ColumnElement[bool],
                  dialect: str, bands: list[int]) -> sa.Select:
    """The counted visits of the selected members by local weekday (0 = Monday), hour, store and
    bill band (the index of the first of `bands`, ascending fen, the bill is below; len(bands) above)."""
    if dialect == "postgresql":
        local = sa.func.timezone("Asia/Shanghai", Order.paid_at)
        weekday = sa.cast(sa.extract("isodow", local), sa.Integer) - 1
        hour = sa.cast(sa.extract("hour", local), sa.Integer)
    else:
        shifted = f"+{LOCAL_OFFSET_HOURS} hours"
        weekday = (sa.cast(sa.func.strftime("%w", Order.paid_at, shifted), sa.Integer) + 6) % 7
        hour = sa.cast(sa.func.strftime("%H", Order.paid_at, shifted), sa.Integer)
    kept = Order.paid_cents - Order.refunded_cents
    band = sa.case(*[(kept < limit, index) for index, limit in enumerate(bands)], else_=len(bands))
    return (sa.select(weekday.label("weekday"), hour.label("hour"), Order.store_id, band.label("band"),
                      sa.func.count(Order.id).label("visits"), sa.func.sum(kept).label("revenue_cents"))
            .where(*_counted(merchant_id, start, end), members)
            .group_by(weekday, hour, Order.store_id, band))


# --- the pyramid computed in the database ----------------------------------------------------

def _figures_subquery(merchant_id: int, start: datetime, end: datetime, rollup: bool) -> sa.Subquery:
    return member_figures(merchant_id, start, end, rollup=rollup).subquery("figures")


def layer_case(figures: sa.Subquery, end: datetime, t) -> sa.ColumnElement[str]:
    """`tablerules.rfm.classify` as an SQL CASE over a `member_figures` row, for the thresholds `t`
    (a `tablerules.rfm.Thresholds`). Whole days are compared as moments: "more than N days ago"
    is "on or before `end` - (N + 1) days", so no date arithmetic differs between databases."""
    seen = sa.func.coalesce(figures.c.last_visit_at, figures.c.joined_at)
    days = timedelta(days=1)
    frequent = figures.c.visits >= t.frequent_visits
    high = figures.c.spend_cents >= t.high_spend_cents
    return sa.case(
        (seen <= end - (t.lost_days + 1) * days, "lost"),
        (seen <= end - (t.active_days + 1) * days, "dormant"),
        (sa.and_(frequent, high), "core"),
        (sa.or_(frequent, high), "important"),
        (sa.and_(figures.c.visits < 2, figures.c.joined_at > end - (t.new_member_days + 1) * days), "new"),
        else_="potential")


def pyramid_summary(merchant_id: int, start: datetime, end: datetime, t, *, rollup: bool = False) -> sa.Select:
    """Per layer: members, visits and kept spend, in one statement."""
    figures = _figures_subquery(merchant_id, start, end, rollup)
    layer = layer_case(figures, end, t).label("layer")
    scored = sa.select(layer, figures.c.visits, figures.c.spend_cents).subquery("scored")
    return (sa.select(scored.c.layer, sa.func.count().label("members"),
                      sa.func.coalesce(sa.func.sum(scored.c.visits), 0).label("visits"),
                      sa.func.coalesce(sa.func.sum(scored.c.spend_cents), 0).label("revenue_cents"))
            .group_by(scored.c.layer))


def figure_quantiles(merchant_id: int, start: datetime, end: datetime, *, rollup: bool = False) -> sa.Select:
    """The nearest-rank quantiles `tablerules.rfm.default_thresholds` takes, over the members with
    a visit in the window, in one statement: how many visited, the last visit at the median and at
    the 80th percentile of recency (the most recent first), and the 75th percentile of visits and
    of spend. Rank k = ceil(q·n) is found as the first rank with rank·100 >= q·100·n."""
    if rollup:
        visits = (sa.select(MemberFigures.member_id, MemberFigures.visits, MemberFigures.spend_cents,
                            MemberFigures.last_visit_at)
                  .join(Member, Member.id == MemberFigures.member_id)
                  .where(MemberFigures.merchant_id == merchant_id, MemberFigures.visits > 0,
                         Member.created_at <= end).subquery("visits"))
    else:
        visits = (_visits(merchant_id, start, end)
                  .join(Member, Member.id == Order.member_id).where(Member.created_at <= end).subquery("visits"))
    ranked = sa.select(
        visits.c.last_visit_at, visits.c.visits, visits.c.spend_cents,
        sa.func.row_number().over(order_by=visits.c.last_visit_at.desc()).label("r_rank"),
        sa.func.row_number().over(order_by=visits.c.visits).label("f_rank"),
        sa.func.row_number().over(order_by=visits.c.spend_cents).label("m_rank"),
        sa.func.count().over().label("n")).subquery("ranked")
    at_or_after = lambda rank, percent: rank * 100 >= percent * ranked.c.n  # noqa: E731
    return sa.select(
        sa.func.max(ranked.c.n).label("n"),
        sa.type_coerce(sa.func.max(sa.case((at_or_after(ranked.c.r_rank, 50), ranked.c.last_visit_at))),
                       Order.paid_at.type).label("median_last_visit_at"),
        sa.type_coerce(sa.func.max(sa.case((at_or_after(ranked.c.r_rank, 80), ranked.c.last_visit_at))),
                       Order.paid_at.type).label("p80_last_visit_at"),
        sa.func.min(sa.case((at_or_after(ranked.c.f_rank, 75), ranked.c.visits))).label("p75_visits"),
        sa.func.min(sa.case((at_or_after(ranked.c.m_rank, 75), ranked.c.spend_cents))).label("p75_spend_cents"))


def pyramid_moves(merchant_id: int, start: datetime, before: datetime, after: datetime, t) -> sa.Select:
    """Per (layer at `before` — None for a member who joined after it — and layer at `after`):
    members, visits and kept spend, over the only members whose layer can differ between the two
    moments when the rollup (`member_figures`, holding the window from `start`) and the thresholds
    `t` stay the same: the rule compares moments with `end`, so as `end` moves on a member changes
    layer only when their last visit (or, without one, their joining) passes a recency threshold,
    their joining passes the new-member threshold, or they join. Those are found through
    `ix_member_figures_merchant_last_visit` and `ix_member_merchant_created`; meant for moments
    minutes apart, when they are a handful."""
    day = timedelta(days=1)
    recency = [(before - (n + 1) * day, after - (n + 1) * day) for n in (t.lost_days, t.active_days)]
    joining = [*recency, (before - (t.new_member_days + 1) * day, after - (t.new_member_days + 1) * day),
               (before, after)]

    def passing(column, spans):
        return sa.or_(*[sa.and_(column > low, column <= high) for low, high in spans])

    by_visit = sa.select(MemberFigures.member_id.label("id")).where(
        MemberFigures.merchant_id == merchant_id, passing(MemberFigures.last_visit_at, recency))
    by_joining = sa.select(Member.id).where(Member.merchant_id == merchant_id, passing(Member.created_at, joining))
    moved = sa.union(by_visit, by_joining).subquery("moved")
    figures = (member_figures(merchant_id, start, after, rollup=True)
               .where(Member.id.in_(sa.select(moved.c.id))).subquery("figures"))
    was = sa.case((figures.c.joined_at > before, None), else_=layer_case(figures, before, t)).label("was")
    now = layer_case(figures, after, t).label("now")
    scored = sa.select(was, now, figures.c.visits, figures.c.spend_cents).subquery("scored")
    return (sa.select(scored.c.was, scored.c.now, sa.func.count().label("members"),
                      sa.func.coalesce(sa.func.sum(scored.c.visits), 0).label("visits"),
                      sa.func.coalesce(sa.func.sum(scored.c.spend_cents), 0).label("revenue_cents"))
            .group_by(scored.c.was, scored.c.now))
