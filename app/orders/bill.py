"""Pushing the bill: the table's order is presented to its diners and the table awaits payment.

The order says who gets it (the diners' openids, found by the channel that knows them) and what
each of them pays: the payable of the bill page, priced for the member that diner is (a member's
tier discount shows on their phone as on their bill page). It publishes one
DomainEvent.BILL_PUSHED per diner and bill version, so pushing an unchanged bill again reaches
only diners who did not have it; the channel (WeChat) sends the messages after commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext

from app.actor import Actor
from app.db import db
from app.errors import Conflict, NotFound
from app.events.domain import DomainEvent, publish
from app.events.models import EventKind
from app.events.service import append as append_event
from app.members.models import Member
from app.orders.access import lock_order, require_open
from app.orders.models import Order
from app.orders.settlement import price_order
from app.orders.state import BILLABLE
from app.tables.models import DiningTable
from app.tables.service import move_table, table_token
from app.tables.state import TableEvent, TableState


@dataclass(frozen=True)
class PushedBill:
    order_id: int
    bill_url: str
    payable_cents: int  # the bill before any member's discount
    recipients: int  # diners (and the order's member) who can be reached
    sent_to: int  # of them, those who did not have this bill yet


# Who can be reached for an order at a table: the channel's answer (openids), or it raises when it
# cannot deliver at all (e.g. the merchant has no WeChat account).
Recipients = Callable[[Order, DiningTable], Sequence[str]]


def bill_url(order: Order, table: DiningTable) -> str:
    """Where a diner sees and pays the bill: `{PUBLIC_BASE_URL}/t/<table token>/bill?order=<id>`."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return f"{base}/t/{table_token(table)}/bill?order={order.id}"


def push_bill(order_id: int, *, recipients: Recipients, actor: Actor, now: datetime) -> PushedBill:
    """Present the priced bill to every diner `recipients` names (and the order's member), ask
    the table for payment, and log it for the store. 409 `order_not_open`, `order_empty`,
    `order_has_no_table`; whatever `recipients` raises."""
    order = lock_order(order_id, actor)
    if not actor.works_at(order.store_id):
        raise NotFound("order")
    require_open(order)
    lines = [line for line in order.lines if line.status in BILLABLE]
    if not lines:
        raise Conflict(gettext("There is nothing on this order to pay for."), error_code="order_empty")
    table = db.session.get(DiningTable, order.table_id) if order.table_id else None
    if table is None:
        raise Conflict(gettext("Only a table's order can be pushed to the diners' phones."),
                       error_code="order_has_no_table")
    openids = list(dict.fromkeys(recipients(order, table)))
    member = db.session.get(Member, order.member_id) if order.member_id else None
    if member is not None and member.openid and member.openid not in openids:
        openids.append(member.openid)

    def payable_for(diner: Member | None) -> int:
        return price_order(order, member=diner, points=0, coupon_ids=[], now=now).payable_cents

    payable = payable_for(None)
    members = {m.openid: m for m in db.session.scalars(sa.select(Member).where(
        Member.merchant_id == order.merchant_id, Member.openid.in_(openids)))} if openids else {}
    url = bill_url(order, table)
    items = [[line.name, line.qty] for line in lines]
    shape = [(line.id, line.qty) for line in lines]
    sent = 0
    for openid in sorted(openids):
        diner = members.get(openid)
        owed = payable_for(diner) if diner is not None else payable
        version = hashlib.sha256(f"{owed}|{shape}".encode()).hexdigest()[:16]
        sent += bool(publish(order.merchant_id, DomainEvent.BILL_PUSHED, f"{order.id}:{version}:{openid}",
                             {"order_id": order.id, "openid": openid, "payable_cents": owed, "items": items,
                              "url": url, "pushed_at": now.isoformat()}, now=now))
    if table.state is TableState.ORDERING:
        move_table(table, TableEvent.REQUEST_BILL, now)
    append_event(order.merchant_id, order.store_id, EventKind.BILL_PUSHED,
                 {"order_id": order.id, "table": order.table_code, "payable_cents": payable,
                  "recipients": len(openids), "sent_to": sent}, order_id=order.id)
    return PushedBill(order.id, url, payable, len(openids), sent)
