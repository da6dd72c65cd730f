"""The reporting SQL of the analytics package: each function builds ONE statement over the raw
bills (`customer_order`, `order_line`), scoped to one merchant.

A visit is a paid order of a member (`status` PAID) paid inside the window; an order refunded in
full has status REFUNDED and is no visit, a partly refunded one counts with what the diner kept
(`paid_cents - refunded_cents`), and its refunded dishes (`refunded_qty`) leave the dish figures.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from app.members.models import Member
from app.orders.models import Order
from app.orders.state import OrderStatus


def _visits(merchant_id: int, start: datetime, end: datetime) -> sa.Select:
    """Per member: counted visits, what they kept paid, the last paid moment."""
    return (sa.select(Order.member_id,
                      sa.func.count(Order.id).label("visits"),
                      sa.func.sum(Order.paid_cents - Order.refunded_cents).label("spend_cents"),
                      sa.func.max(Order.paid_at).label("last_visit_at"))
            .where(Order.merchant_id == merchant_id, Order.status == OrderStatus.PAID,
                   Order.member_id.is_not(None), Order.paid_at >= start, Order.paid_at < end)
            .group_by(Order.member_id))


def member_figures(merchant_id: int, start: datetime, end: datetime, member_ids: Iterable[int] | None = None
                   ) -> sa.Select:
    """Every member who had joined by `end`, with their visits, spend and last visit in
    [start, end) — zeros and None without one."""
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
