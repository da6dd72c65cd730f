"""Refunds: a paid order given back, whole or by line, in the caller's transaction.

The amount is what the refunded lines cost after every discount (the charged bill's line
allocations, `tablerules.bill`), spread over the tenders in proportion to what each still holds
(`tablerules.tenders.plan_refund`). Stored value goes back in the split it was drawn in; the
points the refunded money earned are taken back and, with the last refund, the points the order
spent and its coupons come back — all through the points planners of `tablerules.points` — so a
member holds exactly what they held before the settlement.

Money a payment provider collected is recorded here as a refund payment and handed to
`provider_refund` (the payments package), which records the provider's refund in this same
transaction; the provider hears of it only after commit. Nothing here calls a provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from flask_babel import gettext

from app.actor import Actor
from app.audit.service import record
from app.coupons import service as coupons
from app.db import db
from app.errors import Conflict, NotFound, Unprocessable
from app.events.domain import DomainEvent, publish
from app.events.models import EventKind
from app.events.service import NewEvent
from app.events.service import append_all as append_events
from app.members.ledger import Move, Refs, lock_member, post
from app.members.models import Account, EntryKind, LedgerEntry, Member, MemberVisit, PointsLot, PointsLotMove
from app.orders.access import lock_order
from app.orders.documents import billable_lines, refund_slip_document
from app.orders.kitchen import ticket_changes
from app.orders.models import Order, Payment, PaymentKind
from app.orders.settlement import tender_error
from app.orders.state import ORDERS, LineStatus, OrderEvent, OrderStatus
from tablerules import points as points_rules
from tablerules import stored_value as stored_value_rules
from tablerules.bill import ChargedBill, line_refund_cents
from tablerules.tenders import TenderError, TenderType, plan_refund

# Tenders whose money a payment provider holds: their refund goes back through it.
PROVIDER_TENDERS = frozenset({TenderType.WECHAT})


class ProviderRefund(Protocol):
    """Records, in the refund's transaction, that `payment` (a refund payment of a provider's
    tender) is to be sent back through the provider after commit."""

    def __call__(self, order: Order, payment: Payment, *, key: str, reason: str, now: datetime) -> object: ...


@dataclass(frozen=True)
class RefundResult:
    order: Order
    refunded_cents: int  # by this refund
    by_tender: Mapping[TenderType, int]


def refund_result(result: RefundResult) -> dict:
    """The answer to a refund (API.md)."""
    order = result.order
    return {"id": order.id, "status": order.status.label, "refunded_cents": result.refunded_cents,
            "total_refunded_cents": order.refunded_cents}


def refund_order(order_id: int, *, reason: str, key: str, actor: Actor, now: datetime,
                 provider_refund: ProviderRefund, lines: Mapping[int, int] | None = None) -> RefundResult:
    """Refund a paid order, whole (`lines` None) or by line ({line_id: qty}). `key` is the
    refund's idempotency key (the ledger entries' and the provider refund's keys derive from it)."""
    order = lock_order(order_id, actor)
    if order.status is not OrderStatus.PAID:
        raise Conflict(gettext("Only a paid order can be refunded."), error_code="order_not_paid",
                       details={"status": order.status.label})
    charged = order.charged_bill
    # What the kitchen still had to make of each dish not served yet, before this refund.
    to_cook = {line.id: line.qty - line.refunded_qty for line in order.lines
               if line.status in (LineStatus.CONFIRMED, LineStatus.COOKING) and line.ticket_id is not None}
    amount = _refund_lines(order, charged, lines)
    remaining = order.paid_cents - order.refunded_cents - amount
    by_tender = _refund_tenders(order, amount)
    if order.member_id is not None:
        member = lock_member(order.member_id, order.merchant_id, actor=actor)
        _reverse_member_side(order, member, charged, by_tender, is_last=remaining == 0, reason=reason, key=key,
                             now=now, actor=actor)
    for tender, cents in sorted(by_tender.items()):
        if not cents:
            continue
        payment = Payment(merchant_id=order.merchant_id, order_id=order.id, store_id=order.store_id, tender=tender,
                          kind=PaymentKind.REFUND, amount_cents=cents, staff_id=actor.staff_id,
                          device_id=actor.device_id, reason=reason)
        db.session.add(payment)
        if tender in PROVIDER_TENDERS:
            db.session.flush()
            provider_refund(order, payment, key=key, reason=reason, now=now)
    order.refunded_cents += amount
    order.refunded_at = now
    if remaining == 0:
        order.status = ORDERS.next(order.status, OrderEvent.REFUND)
    # The member's figures and the bill's day of the sales rollup follow after commit.
    publish(order.merchant_id, DomainEvent.ORDER_REFUNDED, f"{order.id}:{key}",
            {"order_id": order.id, "refunded_cents": amount}, now=now)
    refunded_lines = [{"line_id": line_id, "qty": qty} for line_id, qty in (lines or {}).items()]
    record("order.refund", order, actor=actor, amount_cents=amount, reason=reason, lines=refunded_lines or "all")
    append_events(order.merchant_id, order.store_id, [
        NewEvent(EventKind.ORDER_REFUNDED, {"order_id": order.id, "table": order.table_code, "refunded_cents": amount,
                                            "total_refunded_cents": order.refunded_cents,
                                            "lines": refunded_lines, "reason": reason}, order.id),
        NewEvent(EventKind.PRINT_JOB, refund_slip_document(order, refunded_cents=amount, reason=reason, key=key),
                 order.id),
        # A dish refunded before it was served is not to be cooked: 改单 / 退菜 in the kitchen.
        *ticket_changes(order, {line.id: was for line in order.lines
                                if (was := to_cook.get(line.id)) is not None and line.qty - line.refunded_qty != was},
                        reason=reason)])
    return RefundResult(order, amount, by_tender)


def _refund_lines(order: Order, charged: ChargedBill, lines: Mapping[int, int] | None) -> int:
    """Mark the refunded quantities and answer the amount they cost the diner."""
    planned = _plan_lines(order, charged, lines)
    for line, qty, _cents in planned:
        line.refunded_qty += qty
    return sum(cents for _line, _qty, cents in planned)


def _plan_lines(order: Order, charged: ChargedBill, lines: Mapping[int, int] | None) -> list[tuple]:
    """(line, qty, cents) of each line a refund of `lines` (None: all that is left) gives back."""
    billable = {line.id: line for line in billable_lines(order)}
    wanted = lines if lines is not None else {i: line.qty - line.refunded_qty for i, line in billable.items()}
    planned = []
    for line_id, qty in wanted.items():
        line = billable.get(line_id)
        if line is None:
            raise NotFound("order_line")
        if qty > line.qty - line.refunded_qty:
            raise Unprocessable(gettext("More than was left of this dish cannot be refunded."),
                                error_code="refund_exceeds_qty",
                                details={"line_id": line_id, "refundable_qty": line.qty - line.refunded_qty})
        planned.append((line, qty, line_refund_cents(charged.allocation(line_id).net_cents, line.qty,
                                                     line.refunded_qty, qty)))
    if sum(cents for _line, _qty, cents in planned) == 0 and lines is not None:
        raise Unprocessable(gettext("There is nothing to refund."), error_code="nothing_to_refund")
    return planned


def quote_refund(order_id: int, *, actor: Actor, lines: Mapping[int, int] | None = None) -> dict:
    """What `refund_order` would give back for `lines` (None: the whole order left), reading
    only: each billable line with what is left of it, and the amount — the till shows it before
    the manager approves."""
    order = db.session.scalar(sa.select(Order).where(Order.id == order_id, Order.merchant_id == actor.merchant_id))
    if order is None or (order.store_id is not None and not actor.works_at(order.store_id)):
        raise NotFound("order")
    if order.status is not OrderStatus.PAID:
        raise Conflict(gettext("Only a paid order can be refunded."), error_code="order_not_paid",
                       details={"status": order.status.label})
    charged = order.charged_bill
    planned = _plan_lines(order, charged, lines)
    asked = {line.id: qty for line, qty, _cents in planned}
    cents = {line.id: c for line, _qty, c in planned}
    return {"order_id": order.id, "refund_cents": sum(cents.values()),
            "lines": [{"line_id": line.id, "name": line.name, "qty": line.qty, "refunded_qty": line.refunded_qty,
                       "refundable_qty": line.qty - line.refunded_qty, "refund_qty": asked.get(line.id, 0),
                       "refund_cents": cents.get(line.id, 0)} for line in billable_lines(order)]}


def _refund_tenders(order: Order, amount: int) -> dict[TenderType, int]:
    """Spread the refund over the tenders in proportion to what each may still give back."""
    left: dict[TenderType, int] = {}
    for payment in order.payments:
        held = payment.net_cents if payment.kind is PaymentKind.CHARGE else -payment.amount_cents
        left[payment.tender] = left.get(payment.tender, 0) + held
    try:
        return plan_refund(amount, left)
    except TenderError as error:
        raise tender_error(error) from None


# --- the member's side -------------------------------------------------------------------------

def _plain(lot: PointsLot) -> points_rules.PointsLot:
    return points_rules.PointsLot(lot.id, lot.remaining_points, lot.earned_at, lot.expires_at)


def _reverse_member_side(order: Order, member: Member, charged: ChargedBill, by_tender: Mapping[TenderType, int], *,
                         is_last: bool, reason: str, key: str, now: datetime, actor: Actor) -> None:
    refs = Refs(order_id=order.id, store_id=order.store_id)
    entries = list(db.session.scalars(sa.select(LedgerEntry).where(
        LedgerEntry.order_id == order.id, LedgerEntry.member_id == member.id).order_by(LedgerEntry.id)))
    moves: list[Move] = []

    # Stored value: back in the split it was drawn in.
    stored_value = by_tender.get(TenderType.STORED_VALUE, 0)
    if stored_value:
        done = stored_value_rules.StoredValueSplit(
            sum(e.delta for e in entries if e.kind is EntryKind.SPEND_REFUND and e.account is Account.PRINCIPAL),
            sum(e.delta for e in entries if e.kind is EntryKind.SPEND_REFUND and e.account is Account.BONUS))
        back = stored_value_rules.split_refund(charged.stored_value_split, stored_value, done)
        moves += [Move(Account.PRINCIPAL, EntryKind.SPEND_REFUND, back.principal_cents, reason),
                  Move(Account.BONUS, EntryKind.SPEND_REFUND, back.bonus_cents, reason)]

    # The points the order spent come back with its last refund, each redemption on its own entry.
    redeemed = [e for e in entries if e.kind is EntryKind.POINTS_REDEEM] if is_last else []
    moves += [Move(Account.POINTS, EntryKind.POINTS_REDEEM_RETURN, -e.delta, reason, e.id) for e in redeemed]

    # The points earned by the money refunded: all refunds so far, less what earlier ones took.
    take_back = 0
    if charged.earn is not None:
        paid = [(p.tender.label, p.net_cents) for p in order.payments if p.kind is PaymentKind.CHARGE]
        refunded = [(p.tender.label, p.amount_cents) for p in order.payments if p.kind is PaymentKind.REFUND]
        refunded += [(tender.label, cents) for tender, cents in by_tender.items() if cents]
        reversed_before = -sum(e.delta for e in entries if e.kind is EntryKind.POINTS_EARN_REVERSAL)
        take_back = points_rules.points_to_reverse(charged.earn.rule, paid, refunded,
                                                   charged.earn.multiplier_percent) - reversed_before
    if take_back:
        moves.append(Move(Account.POINTS, EntryKind.POINTS_EARN_REVERSAL, -take_back, reason))

    lot_changes = _plan_lots(order, member, redeemed, take_back, now) if redeemed or take_back else None
    posted = post(member, f"refund:{key}", moves, refs, actor=actor)
    if lot_changes is not None:
        _apply_lots(order, posted, *lot_changes)

    visit = db.session.scalar(sa.select(MemberVisit).where(MemberVisit.order_id == order.id,
                                                           MemberVisit.merchant_id == order.merchant_id))
    if visit is not None:
        visit.refunded_cents += sum(by_tender.values())
    if is_last and charged.coupon_ids_used:
        coupons.restore_coupons(order.id, key=f"refund:{key}", now=now, store_id=order.store_id, actor=actor)


LotTakes = dict[int, list[points_rules.LotPoints]]  # redeem entry id -> what goes back to which lot


def _plan_lots(order: Order, member: Member, redeemed: list[LedgerEntry], take_back: int,
               now: datetime) -> tuple[dict[int, PointsLot], LotTakes, points_rules.PointsReversal]:
    """Which lots the returned and the taken-back points go to (the planners of
    `tablerules.points`): redeemed points go back to the lots they came from first, so they can
    cover earned points the member has spent since; then the earned points are taken back from
    the order's own lot and, for what was spent of it, from the member's other lots."""
    drawn = list(db.session.scalars(sa.select(PointsLotMove).where(
        PointsLotMove.entry_id.in_([e.id for e in redeemed])))) if redeemed else []
    rows = {lot.id: lot for lot in db.session.scalars(sa.select(PointsLot).where(
        PointsLot.member_id == member.id,
        sa.or_(PointsLot.remaining_points > 0, PointsLot.order_id == order.id,
               PointsLot.id.in_({move.lot_id for move in drawn}))).order_by(PointsLot.id))}
    lots = {lot_id: _plain(lot) for lot_id, lot in rows.items()}

    returns: LotTakes = {}
    for entry in redeemed:
        taken = [points_rules.LotPoints(m.lot_id, -m.points) for m in drawn if m.entry_id == entry.id]
        back = points_rules.plan_redemption_return(taken, lots.values(), now)
        # Points whose lot has lapsed go back to that lot too: the expiry job takes them again,
        # as it would have had they never been spent.
        returns[entry.id] = [*back.restore, *back.lapsed]
        for lot_id, points in returns[entry.id]:
            lot = lots[lot_id]
            lots[lot_id] = points_rules.PointsLot(lot.id, lot.remaining_points + points, lot.earned_at, lot.expires_at)

    earned = [points_rules.LotPoints(lot.id, lot.earned_points) for lot in rows.values() if lot.order_id == order.id]
    reversal = points_rules.plan_reversal(earned, lots.values(), now, points=take_back) if take_back else \
        points_rules.PointsReversal((), 0)
    if not reversal.is_complete:
        raise Conflict(gettext("The points this order earned were already spent; refund them by hand first."),
                       error_code="points_already_spent",
                       details={"to_take_back": take_back, "left": reversal.taken_points})
    return rows, returns, reversal


def _apply_lots(order: Order, posted: list[LedgerEntry], rows: dict[int, PointsLot], returns: LotTakes,
                reversal: points_rules.PointsReversal) -> None:
    returned = {e.ref_entry_id: e for e in posted if e.kind is EntryKind.POINTS_REDEEM_RETURN}
    for entry_id, back in returns.items():
        for lot_id, points in back:
            rows[lot_id].remaining_points += points
            db.session.add(PointsLotMove(merchant_id=order.merchant_id, lot_id=lot_id,
                                         entry_id=returned[entry_id].id, points=points))
    if reversal.takes:
        entry = next(e for e in posted if e.kind is EntryKind.POINTS_EARN_REVERSAL)
        for lot_id, points in reversal.takes:
            rows[lot_id].remaining_points -= points
            db.session.add(PointsLotMove(merchant_id=order.merchant_id, lot_id=lot_id, entry_id=entry.id,
                                         points=-points))
