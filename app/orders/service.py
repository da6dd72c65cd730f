"""Orders: lines into the kitchen, the bill, settlement and refunds — each in one transaction.

Nothing here commits: routes wrap each operation in `app.idempotency.run_once` (or commit
themselves), so a failure anywhere rolls back everything, payments and ledger included.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import g, has_request_context
from flask_babel import gettext

from app.audit.service import record
from app.db import current_merchant_id, db, get_scoped, utcnow
from app.errors import Conflict, NotFound, Unprocessable
from app.events.models import EventKind
from app.events.service import append as append_event
from app.members import service as members
from app.members.ledger import Move, Refs, lock_member, post
from app.members.models import Account, EntryKind, LedgerEntry, Member, MemberVisit, PointsLot, PointsLotMove
from app.menu import service as menu
from app.menu.models import Dish
from app.orders.documents import billable_lines, line_json, receipt_document, ticket_json
from app.orders.models import (
    CartLine,
    KitchenTicket,
    Order,
    OrderLine,
    Payment,
    PaymentKind,
    SessionStatus,
    TableSession,
    Tender,
    TicketStatus,
)
from app.orders.state import (
    IllegalTransition,
    LineEvent,
    LineStatus,
    OrderEvent,
    OrderStatus,
    next_line_status,
    next_order_status,
)
from app.payments.refunds import refund_order_share
from app.tables.models import DiningTable
from app.tables.service import move_table
from app.tables.state import TableEvent
from app.tenants.models import Store
from app.wechat import notify
from tablerules import members as member_rules
from tablerules import pricing
from tablerules.menu import OptionError, choose_options


@dataclass(frozen=True)
class ItemRequest:
    dish_id: int
    qty: int
    option_ids: tuple[int, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class TenderRequest:
    type: str
    amount_cents: int
    external_ref: str | None = None  # the provider's transaction id (WeChat Pay)
    payer: str | None = None  # who paid through the provider (WeChat: openid)


@dataclass
class SettleRequest:
    member_id: int | None = None
    points: int = 0
    coupon_ids: Sequence[int] = ()
    tenders: Sequence[TenderRequest] = field(default_factory=list)


# --- reading ---------------------------------------------------------------------------------

def lock_order(order_id: int) -> Order:
    order = db.session.scalars(
        sa.select(Order).where(Order.id == order_id, Order.merchant_id == current_merchant_id())
        .with_for_update().execution_options(populate_existing=True)
    ).one_or_none()
    if order is None:
        raise NotFound("order")
    return order


def _actor_label() -> str:
    staff = g.get("staff") if has_request_context() else None
    return staff.display_name if staff is not None else ""


# --- lines and the kitchen -------------------------------------------------------------------

def _dish(store_id: int, dish_id: int) -> Dish:
    dish = get_scoped(Dish, dish_id)
    if dish is None or not dish.is_active:
        raise NotFound("dish", gettext("This dish is not on the menu."))
    if menu.is_sold_out(store_id, dish_id):
        raise Conflict(gettext("%(name)s is sold out.", name=dish.name), error_code="dish_sold_out",
                       details={"dish_id": dish.id, "name": dish.name})
    return dish


def _line_from(order: Order, item: ItemRequest, added_by: str) -> OrderLine:
    dish = _dish(order.store_id, item.dish_id)
    try:
        chosen = choose_options(item.option_ids, menu.option_rules(dish))
    except OptionError as error:
        raise menu.option_error(error) from None
    return OrderLine(
        merchant_id=order.merchant_id, order_id=order.id, dish_id=dish.id, name=dish.name, name_en=dish.name_en,
        category_id=dish.category_id, station=dish.station, qty=item.qty, note=item.note,
        unit_price_cents=dish.price_cents + sum(c.price_delta_cents for c in chosen),
        options=[{"group": c.group_name, "name": c.name, "price_delta_cents": c.price_delta_cents} for c in chosen],
        is_discountable=dish.is_discountable, status=LineStatus.SUBMITTED, added_by=added_by,
    )


def _add_lines(order: Order, picks: Sequence[tuple[ItemRequest, str]]) -> list[OrderLine]:
    lines = [_line_from(order, item, added_by) for item, added_by in picks]
    db.session.add_all(lines)
    db.session.flush()
    db.session.expire(order, ["lines"])
    return lines


def _require_open(order: Order) -> None:
    if order.status is not OrderStatus.OPEN:
        raise Conflict(gettext("This order is not open any more."), error_code="order_not_open",
                       details={"status": order.status.label})


def create_order(store: Store, *, table: DiningTable | None, items: Sequence[ItemRequest], key: str | None,
                 added_by: str = "") -> Order:
    staff = g.get("staff") if has_request_context() else None
    order = Order(merchant_id=store.merchant_id, store_id=store.id, table_id=table.id if table else None,
                  table_code=table.code if table else "", idempotency_key=key,
                  created_by_id=staff.id if staff else None, status=OrderStatus.OPEN)
    db.session.add(order)
    db.session.flush()
    add_items(order, items, added_by=added_by or _actor_label(), confirm=True)
    return order


def add_items(order: Order, items: Sequence[ItemRequest], *, added_by: str, confirm: bool) -> list[OrderLine]:
    """More dishes on the order; `confirm` sends them to the kitchen at once, otherwise they wait
    (submitted) for the waiter."""
    _require_open(order)
    if not items:
        raise Unprocessable(gettext("Pick at least one dish."), error_code="no_items")
    lines = _add_lines(order, [(item, added_by) for item in items])
    if confirm:
        confirm_lines(order, lines)
    else:
        append_event(order.merchant_id, order.store_id, EventKind.ORDER_SUBMITTED,
                     {"order_id": order.id, "table": order.table_code,
                      "items": [line_json(line) for line in lines]}, order_id=order.id)
    _refresh_subtotal(order)
    return lines


def confirm_lines(order: Order, lines: Iterable[OrderLine]) -> list[KitchenTicket]:
    """Send lines to the kitchen: one ticket per station, each announced on the event log."""
    lines = list(lines)
    for line in lines:
        line.status = _line_move(line, LineEvent.CONFIRM)
    is_addition = db.session.scalar(sa.select(KitchenTicket.id).where(KitchenTicket.order_id == order.id).limit(1))
    by_station: dict[str, list[OrderLine]] = defaultdict(list)
    for line in lines:
        by_station[line.station].append(line)
    tickets = []
    for station, station_lines in sorted(by_station.items()):
        ticket = KitchenTicket(merchant_id=order.merchant_id, store_id=order.store_id, order_id=order.id,
                               station=station, table_code=order.table_code, is_addition=is_addition is not None,
                               status=TicketStatus.OPEN)
        db.session.add(ticket)
        db.session.flush()
        for line in station_lines:
            line.ticket_id = ticket.id
        ticket.lines = station_lines
        append_event(order.merchant_id, order.store_id, EventKind.TICKET_NEW, ticket_json(ticket), order_id=order.id)
        tickets.append(ticket)
    if order.table_id is not None:
        move_table(db.session.get(DiningTable, order.table_id), TableEvent.ORDER)
    return tickets


def _line_move(line: OrderLine, event: LineEvent) -> LineStatus:
    try:
        return next_line_status(line.status, event)
    except IllegalTransition:
        raise Conflict(gettext("This dish cannot change that way now."), error_code="line_state_conflict",
                       details={"line_id": line.id, "status": line.status.label, "event": str(event)}) from None


def void_line(order: Order, line_id: int, reason: str) -> OrderLine:
    _require_open(order)
    line = next((line for line in order.lines if line.id == line_id), None)
    if line is None:
        raise NotFound("order_line")
    line.status = _line_move(line, LineEvent.CANCEL)
    line.void_reason = reason
    record("order.void_line", order, line_id=line.id, dish=line.name, qty=line.qty, amount_cents=line.amount_cents,
           reason=reason)
    if line.ticket_id is not None:
        append_event(order.merchant_id, order.store_id, EventKind.TICKET_CANCELLED,
                     {"ticket_id": line.ticket_id, "table": order.table_code, "reason": reason,
                      "items": [line_json(line)]}, order_id=order.id)
    _refresh_subtotal(order)
    return line


def _refresh_subtotal(order: Order) -> None:
    order.subtotal_cents = sum(line.amount_cents for line in billable_lines(order))


def set_ticket(ticket: KitchenTicket, bumped: bool) -> KitchenTicket:
    """Bump (all done) or recall a ticket; the lines follow."""
    event = LineEvent.BUMP if bumped else LineEvent.RECALL
    wanted = TicketStatus.BUMPED if bumped else TicketStatus.OPEN
    if ticket.status is wanted or ticket.status is TicketStatus.CANCELLED:
        raise Conflict(gettext("The ticket is already in that state."), error_code="ticket_state_conflict")
    for line in ticket.lines:
        if line.status is not LineStatus.CANCELLED:
            line.status = _line_move(line, event)
    ticket.status = wanted
    ticket.bumped_at = utcnow() if bumped else None
    kind = EventKind.TICKET_BUMPED if bumped else EventKind.TICKET_RECALLED
    append_event(ticket.merchant_id, ticket.store_id, kind, ticket_json(ticket), order_id=ticket.order_id)
    return ticket


# --- the bill --------------------------------------------------------------------------------

def _bill_lines(order: Order) -> list[pricing.BillLine]:
    return [pricing.BillLine(line_id=line.id, dish_id=line.dish_id, category_id=line.category_id, name=line.name,
                             unit_price_cents=line.unit_price_cents, qty=line.qty,
                             is_discountable=line.is_discountable) for line in billable_lines(order)]


def _coupons(member: Member | None, coupon_ids: Sequence[int], now: datetime, lock: bool) -> list:
    if not coupon_ids:
        return []
    if member is None:
        raise Unprocessable(gettext("Coupons need a member."), error_code="member_required")
    from app.coupons import service as coupons

    return coupons.coupons_for_bill(member.id, list(coupon_ids), now, lock=lock)


def price_order(order: Order, *, member: Member | None, points: int, coupon_ids: Sequence[int],
                now: datetime, lock: bool = True) -> pricing.PricedBill:
    """The one pricing of an order, used by the preview (`lock=False`) and by the settlement alike."""
    settings = members.settings_for(order.merchant_id)
    store = db.session.get(Store, order.store_id)
    try:
        return pricing.price_bill(
            _bill_lines(order),
            tier=pricing.TierDiscount(member.tier.name, member.tier.discount_percent) if member else None,
            coupons=_coupons(member, coupon_ids, now, lock),
            member_id=member.id if member else None,
            points_to_redeem=points,
            points_balance=member.points if member else 0,
            points_rule=pricing.PointsRedeemRule(settings.cents_per_point, settings.max_points_share_percent),
            rounding=pricing.Rounding(store.rounding),
            now=now,
        )
    except pricing.PricingError as error:
        status = 409 if error.code == "insufficient_points" else 422
        raise Conflict(error.message, error_code=error.code, details=error.details, status=status) from None


# --- settlement ------------------------------------------------------------------------------

TENDER_TYPES = {"cash": Tender.CASH, "stored_value": Tender.STORED_VALUE, "wechat": Tender.WECHAT}


def _tender_totals(tenders: Sequence[TenderRequest]) -> dict[Tender, int]:
    totals: dict[Tender, int] = defaultdict(int)
    for tender in tenders:
        totals[TENDER_TYPES[tender.type]] += tender.amount_cents
    return totals


def settle_order(order_id: int, request: SettleRequest, *, key: str, now: datetime) -> Order:
    """Charge the order: payments, stored value, points, coupons, the visit, the tier, the order
    status and the outbox events, all in the caller's transaction. Anything short raises and
    nothing is applied."""
    order = lock_order(order_id)
    _require_open(order)
    if not billable_lines(order):
        raise Conflict(gettext("There is nothing on this order to pay for."), error_code="order_empty")
    member = lock_member(request.member_id) if request.member_id is not None else None
    totals = _tender_totals(request.tenders)
    if member is None and (totals.get(Tender.STORED_VALUE) or request.points):
        raise Unprocessable(gettext("Stored value and points need a member."), error_code="member_required")

    bill = price_order(order, member=member, points=request.points, coupon_ids=request.coupon_ids, now=now)
    cash = totals.get(Tender.CASH, 0)
    others = sum(amount for tender, amount in totals.items() if tender is not Tender.CASH)
    if cash + others < bill.payable_cents:
        raise Unprocessable(gettext("The tenders do not cover the total."), error_code="tenders_do_not_cover_total",
                            details={"payable_cents": bill.payable_cents, "tendered_cents": cash + others})
    if others > bill.payable_cents:
        # Only cash can give change; stored value and WeChat must not exceed what is owed.
        raise Unprocessable(gettext("Only cash may exceed the total."), error_code="tenders_exceed_total",
                            details={"payable_cents": bill.payable_cents, "non_cash_cents": others})
    change = cash + others - bill.payable_cents

    refs = Refs(order_id=order.id, store_id=order.store_id)
    split = None
    if totals.get(Tender.STORED_VALUE):
        split = members.spend_stored_value(member, totals[Tender.STORED_VALUE], key=key, refs=refs)
    if bill.points_redeemed:
        members.redeem_points(member, bill.points_redeemed, key=key, now=now, refs=refs)
    if bill.coupon_ids_used:
        from app.coupons import service as coupons

        coupons.redeem_coupons([c for c in bill.coupon_ids_used if c is not None], order_id=order.id,
                               key=key, now=now)

    staff = g.get("staff") if has_request_context() else None
    device = g.get("device") if has_request_context() else None
    references = {TENDER_TYPES[t.type]: t.external_ref for t in request.tenders if t.external_ref}
    for tender, amount in sorted(totals.items()):
        if amount:
            db.session.add(Payment(merchant_id=order.merchant_id, order_id=order.id, store_id=order.store_id,
                                   tender=tender, amount_cents=amount,
                                   change_cents=change if tender is Tender.CASH else 0,
                                   external_ref=references.get(tender),
                                   staff_id=getattr(staff, "id", None), device_id=getattr(device, "id", None)))

    paid_by_tender = [(tender.label, amount - (change if tender is Tender.CASH else 0))
                      for tender, amount in totals.items()]
    earned = 0
    if member is not None:
        settings = members.settings_for(order.merchant_id)
        rule = members.earn_rule(settings)
        multiplier = member.tier.points_multiplier_percent
        earned = member_rules.points_earned(rule, paid_by_tender, multiplier)
        members.earn_points(member, earned, key=key, now=now, refs=refs)
        db.session.add(MemberVisit(
            merchant_id=order.merchant_id, member_id=member.id, order_id=order.id, store_id=order.store_id,
            visited_at=now, paid_cents=bill.payable_cents, stored_value_cents=totals.get(Tender.STORED_VALUE, 0),
            points_earned=earned, points_redeemed=bill.points_redeemed,
            items=[{"name": line.name, "qty": line.qty, "amount_cents": line.amount_cents}
                   for line in billable_lines(order)],
            tenders=[{"type": label, "amount_cents": amount} for label, amount in paid_by_tender if amount]))
        db.session.flush()
        members.consider_upgrade(member, now)

    order.status = next_order_status(order.status, OrderEvent.PAY)
    order.member_id = member.id if member else None
    order.discount_cents, order.payable_cents = bill.discount_cents, bill.payable_cents
    order.paid_cents, order.change_cents = bill.payable_cents, change
    order.paid_at, order.settled_by_id = now, getattr(staff, "id", None)
    order.bill = {
        **bill.to_dict(),
        "tenders": [{"type": t.type, "amount_cents": t.amount_cents} for t in request.tenders],
        "change_cents": change,
        "stored_value_split": split._asdict() if split else None,
        "points_earned": earned,
        "earn": {"points_per_yuan": rule.points_per_yuan, "earning_tenders": sorted(rule.earning_tenders),
                 "multiplier_percent": multiplier} if member is not None else None,
        "member": _member_snapshot(member),
    }
    _close_table(order, now)
    notify.order_paid(order, payer_openid=next((t.payer for t in request.tenders if t.payer), None), now=now)
    append_event(order.merchant_id, order.store_id, EventKind.ORDER_PAID,
                 {"order_id": order.id, "table": order.table_code, "payable_cents": order.payable_cents},
                 order_id=order.id)
    append_event(order.merchant_id, order.store_id, EventKind.PRINT_JOB, receipt_document(order), order_id=order.id)
    return order


def settle_result(order: Order) -> dict:
    """The answer to a settlement (API.md), from the bill as charged."""
    bill = order.bill
    return {"id": order.id, "status": order.status.label, "subtotal_cents": bill["subtotal_cents"],
            "discount_cents": bill["discount_cents"], "payable_cents": bill["payable_cents"],
            "paid_cents": order.paid_cents, "change_cents": order.change_cents, "lines": bill["lines"],
            "points_earned": bill["points_earned"], "member": bill["member"]}


def _member_snapshot(member: Member | None) -> dict | None:
    if member is None:
        return None
    db.session.refresh(member)
    return {"id": member.id, "member_no": member.member_no, "name": member.name, "tier": member.tier.name,
            "points": member.points, "stored_value_cents": member.stored_value_cents}


def _close_table(order: Order, now: datetime) -> None:
    if order.table_id is None:
        return
    table = db.session.get(DiningTable, order.table_id)
    move_table(table, TableEvent.PAY, now)
    session = db.session.scalar(sa.select(TableSession).where(TableSession.order_id == order.id,
                                                               TableSession.status == SessionStatus.OPEN))
    if session is not None:
        session.status, session.closed_at = SessionStatus.CLOSED, now


# --- refunds ---------------------------------------------------------------------------------

def refund_order(order_id: int, *, reason: str, key: str, now: datetime,
                 lines: dict[int, int] | None = None) -> Order:
    """Refund a paid order, whole (`lines` None) or by line ({line_id: qty}).

    The amount is what those lines cost after every discount (the bill's line allocations), paid
    back over the tenders in proportion to what each still holds; stored value goes back in the
    split it was drawn in, and the points the refunded money earned are taken back. When the
    last of the order is refunded, the points it spent and its coupons come back too — so a
    member holds exactly what they held before the settlement.
    """
    order = lock_order(order_id)
    if order.status is not OrderStatus.PAID:
        raise Conflict(gettext("Only a paid order can be refunded."), error_code="order_not_paid",
                       details={"status": order.status.label})
    amount = _refund_lines(order, lines)
    remaining = order.paid_cents - order.refunded_cents - amount
    by_tender = _refund_tenders(order, amount)
    member = lock_member(order.member_id) if order.member_id is not None else None
    if member is not None:
        _reverse_member_side(order, member, by_tender, is_last=remaining == 0, reason=reason, key=key, now=now)
    staff = g.get("staff") if has_request_context() else None
    refunds: dict[Tender, Payment] = {}
    for tender, cents in sorted(by_tender.items()):
        if cents:
            refunds[tender] = Payment(merchant_id=order.merchant_id, order_id=order.id, store_id=order.store_id,
                                      tender=tender, kind=PaymentKind.REFUND, amount_cents=cents,
                                      staff_id=getattr(staff, "id", None), reason=reason)
            db.session.add(refunds[tender])
    order.refunded_cents += amount
    order.refunded_at = now
    if remaining == 0:
        order.status = next_order_status(order.status, OrderEvent.REFUND)
    refunded_lines = [{"line_id": line_id, "qty": qty} for line_id, qty in (lines or {}).items()]
    record("order.refund", order, amount_cents=amount, reason=reason, lines=refunded_lines or "all")
    append_event(order.merchant_id, order.store_id, EventKind.ORDER_REFUNDED,
                 {"order_id": order.id, "table": order.table_code, "refunded_cents": amount,
                  "total_refunded_cents": order.refunded_cents, "lines": refunded_lines, "reason": reason},
                 order_id=order.id)
    append_event(order.merchant_id, order.store_id, EventKind.PRINT_JOB,
                 {**receipt_document(order, kind="refund"), "document_id": f"refund-{order.id}-{key[:16]}",
                  "refunded_cents": amount, "reason": reason}, order_id=order.id)
    if Tender.WECHAT in refunds:
        # Last, once everything else holds: WeChat Pay sends the money back before this commits,
        # and its refusal or silence aborts the whole refund.
        db.session.flush()
        refund_order_share(order, refunds[Tender.WECHAT].amount_cents, key=key, reason=reason,
                           payment=refunds[Tender.WECHAT])
    return order


def _refund_lines(order: Order, lines: dict[int, int] | None) -> int:
    """Mark the refunded quantities and answer the amount they cost the diner."""
    allocations = {a["line_id"]: a["net_cents"] for a in order.bill["line_allocations"]}
    billable = {line.id: line for line in billable_lines(order)}
    wanted = lines if lines is not None else {i: line.qty - line.refunded_qty for i, line in billable.items()}
    amount = 0
    for line_id, qty in wanted.items():
        line = billable.get(line_id)
        if line is None:
            raise NotFound("order_line")
        if qty > line.qty - line.refunded_qty:
            raise Unprocessable(gettext("More than was left of this dish cannot be refunded."),
                                error_code="refund_exceeds_qty",
                                details={"line_id": line_id, "refundable_qty": line.qty - line.refunded_qty})
        net = allocations[line_id]
        # Cumulative floors: refunding a line bit by bit adds up to exactly its net amount.
        amount += net * (line.refunded_qty + qty) // line.qty - net * line.refunded_qty // line.qty
        line.refunded_qty += qty
    if amount == 0 and lines is not None:
        raise Unprocessable(gettext("There is nothing to refund."), error_code="nothing_to_refund")
    return amount


def _refund_tenders(order: Order, amount: int) -> dict[Tender, int]:
    """Split a refund over the tenders in proportion to what each may still give back."""
    left: dict[Tender, int] = defaultdict(int)
    for payment in order.payments:
        left[payment.tender] += payment.net_cents if payment.kind is PaymentKind.CHARGE else -payment.amount_cents
    tenders = sorted(left)
    shares = pricing.allocate(amount, [left[t] for t in tenders]) if amount else [0] * len(tenders)
    return dict(zip(tenders, shares, strict=True))


def _reverse_member_side(order: Order, member: Member, by_tender: dict[Tender, int], *, is_last: bool,
                         reason: str, key: str, now: datetime) -> None:
    bill = order.bill
    refs = Refs(order_id=order.id, store_id=order.store_id)
    entries = list(db.session.scalars(sa.select(LedgerEntry).where(
        LedgerEntry.order_id == order.id, LedgerEntry.member_id == member.id).order_by(LedgerEntry.id)))
    moves: list[Move] = []

    # Stored value: back in the split it was drawn in.
    sv = by_tender.get(Tender.STORED_VALUE, 0)
    if sv:
        original = member_rules.StoredValueSplit(**bill["stored_value_split"])
        done = member_rules.StoredValueSplit(
            sum(e.delta for e in entries if e.kind is EntryKind.SPEND_REFUND and e.account is Account.PRINCIPAL),
            sum(e.delta for e in entries if e.kind is EntryKind.SPEND_REFUND and e.account is Account.BONUS))
        back = member_rules.split_refund(original, sv, done)
        moves += [Move(Account.PRINCIPAL, EntryKind.SPEND_REFUND, back.principal_cents, reason),
                  Move(Account.BONUS, EntryKind.SPEND_REFUND, back.bonus_cents, reason)]

    # Points earned by the money refunded: all refunds so far, less what earlier ones took.
    earn = bill["earn"]
    rule = member_rules.PointsEarnRule(earn["points_per_yuan"], frozenset(earn["earning_tenders"]))
    paid = [(Tender(p.tender).label, p.net_cents) for p in order.payments if p.kind is PaymentKind.CHARGE]
    refunded = [(Tender(p.tender).label, p.amount_cents) for p in order.payments if p.kind is PaymentKind.REFUND]
    refunded += [(tender.label, cents) for tender, cents in by_tender.items() if cents]
    reversed_before = -sum(e.delta for e in entries if e.kind is EntryKind.POINTS_EARN_REVERSAL)
    take_back = member_rules.points_to_reverse(rule, paid, refunded, earn["multiplier_percent"]) - reversed_before
    earned_lot = db.session.scalar(sa.select(PointsLot).where(PointsLot.order_id == order.id,
                                                              PointsLot.member_id == member.id))
    if take_back:
        if earned_lot is None or earned_lot.remaining_points < take_back:
            raise Conflict(gettext("The points this order earned were already spent; refund them by hand first."),
                           error_code="points_already_spent",
                           details={"to_take_back": take_back,
                                    "left": earned_lot.remaining_points if earned_lot else 0})
        moves.append(Move(Account.POINTS, EntryKind.POINTS_EARN_REVERSAL, -take_back, reason))

    # The points the order spent come back with its last refund.
    redeemed = [e for e in entries if e.kind is EntryKind.POINTS_REDEEM] if is_last else []
    moves += [Move(Account.POINTS, EntryKind.POINTS_REDEEM_RETURN, -e.delta, reason, e.id) for e in redeemed]

    posted = post(member, f"refund:{key}", moves, refs)
    if take_back:
        reversal = next(e for e in posted if e.kind is EntryKind.POINTS_EARN_REVERSAL)
        earned_lot.remaining_points -= take_back
        db.session.add(PointsLotMove(merchant_id=order.merchant_id, lot_id=earned_lot.id, entry_id=reversal.id,
                                     points=-take_back))
    returned = {e.ref_entry_id: e for e in posted if e.kind is EntryKind.POINTS_REDEEM_RETURN}
    for entry in redeemed:
        for move in db.session.scalars(sa.select(PointsLotMove).where(PointsLotMove.entry_id == entry.id)):
            db.session.execute(sa.update(PointsLot).where(PointsLot.id == move.lot_id)
                               .values(remaining_points=PointsLot.remaining_points - move.points))
            db.session.add(PointsLotMove(merchant_id=order.merchant_id, lot_id=move.lot_id,
                                         entry_id=returned[entry.id].id, points=-move.points))

    visit = db.session.scalar(sa.select(MemberVisit).where(MemberVisit.order_id == order.id,
                                                           MemberVisit.merchant_id == order.merchant_id))
    if visit is not None:
        visit.refunded_cents += sum(by_tender.values())
    if is_last and any(bill.get("coupon_ids_used") or ()):
        from app.coupons import service as coupons

        coupons.restore_coupons(order.id, key=f"refund:{key}", now=now)


# --- table sessions: the shared cart ----------------------------------------------------------

def open_session(table: DiningTable) -> TableSession:
    """The table's open session, opened on first use (a racing twin simply finds it)."""
    query = sa.select(TableSession).where(TableSession.table_id == table.id, TableSession.status == SessionStatus.OPEN)
    session = db.session.scalar(query)
    if session is None:
        from app.db import insert_unique

        session = TableSession(merchant_id=table.merchant_id, store_id=table.store_id, table_id=table.id)
        if not insert_unique(session):
            session = db.session.scalars(query).one()
    return session


def _bump_version(session: TableSession) -> int:
    version = db.session.execute(sa.update(TableSession).where(TableSession.id == session.id)
                                 .values(version=TableSession.version + 1).returning(TableSession.version)).scalar_one()
    db.session.expire(session, ["version"])
    return version


def cart_json(session: TableSession) -> dict:
    dishes = {d.id: d for d in db.session.scalars(sa.select(Dish).where(
        Dish.id.in_([line.dish_id for line in session.cart])))} if session.cart else {}
    lines = []
    for line in session.cart:
        dish = dishes[line.dish_id]
        unit = menu.unit_price(dish, line.option_ids)
        lines.append({"id": line.id, "dish_id": line.dish_id, "name": dish.name, "name_en": dish.name_en,
                      "qty": line.qty, "option_ids": line.option_ids, "note": line.note,
                      "added_by": line.added_by, "unit_price_cents": unit, "amount_cents": unit * line.qty,
                      "version": line.version})
    return {"session_id": session.id, "table_id": session.table_id, "version": session.version,
            "order_id": session.order_id, "lines": lines,
            "total_cents": sum(line["amount_cents"] for line in lines)}


def _cart_changed(session: TableSession) -> None:
    _bump_version(session)
    append_event(session.merchant_id, session.store_id, EventKind.CART_CHANGED,
                 {"table_id": session.table_id, "session_id": session.id}, order_id=session.order_id)


def add_to_cart(table: DiningTable, item: ItemRequest, added_by: str) -> CartLine:
    """Add a pick to the shared cart. Adds never conflict: two phones adding at once both land."""
    _dish(table.store_id, item.dish_id)
    dish = db.session.get(Dish, item.dish_id)
    menu.unit_price(dish, item.option_ids)  # refuse bad options now, not at send
    session = open_session(table)
    line = CartLine(merchant_id=table.merchant_id, session_id=session.id, dish_id=item.dish_id, qty=item.qty,
                    option_ids=list(item.option_ids), note=item.note, added_by=added_by)
    db.session.add(line)
    db.session.flush()
    _cart_changed(session)
    return line


def change_cart_line(table: DiningTable, line_id: int, *, qty: int, expected_version: int) -> None:
    """Change or remove (qty 0) a line; a stale `expected_version` answers 409 so the phone reloads."""
    session = open_session(table)
    result = db.session.execute(
        (sa.delete(CartLine) if qty == 0 else sa.update(CartLine).values(qty=qty, version=CartLine.version + 1))
        .where(CartLine.id == line_id, CartLine.session_id == session.id, CartLine.version == expected_version)
    )
    if result.rowcount != 1:
        exists = db.session.scalar(sa.select(CartLine.id).where(CartLine.id == line_id,
                                                                CartLine.session_id == session.id))
        if exists is None:
            raise NotFound("cart_line")
        raise Conflict(gettext("Someone at the table changed this dish just now; please look again."),
                       error_code="cart_changed")
    db.session.expire(session, ["cart"])
    _cart_changed(session)


def send_cart(table: DiningTable, *, by_staff: bool) -> Order:
    """Turn the cart into order lines on the table's order (created on the first send). Diner
    sends wait for the waiter when the store asks for confirmation; staff sends go straight on."""
    session = open_session(table)
    db.session.refresh(session)
    if not session.cart:
        raise Unprocessable(gettext("The cart is empty."), error_code="cart_empty")
    store = db.session.get(Store, table.store_id)
    order = lock_order(session.order_id) if session.order_id else None
    if order is None or order.status is not OrderStatus.OPEN:
        order = Order(merchant_id=table.merchant_id, store_id=table.store_id, table_id=table.id,
                      table_code=table.code, status=OrderStatus.OPEN)
        db.session.add(order)
        db.session.flush()
        session.order_id = order.id
    lines = _add_lines(order, [(ItemRequest(line.dish_id, line.qty, tuple(line.option_ids), line.note), line.added_by)
                               for line in session.cart])
    if by_staff or not store.is_waiter_confirm:
        confirm_lines(order, lines)
    else:
        append_event(order.merchant_id, order.store_id, EventKind.ORDER_SUBMITTED,
                     {"order_id": order.id, "table": order.table_code,
                      "items": [line_json(line) for line in lines]}, order_id=order.id)
        if table.state.label != "ordering":
            move_table(table, TableEvent.ORDER)
    for line in list(session.cart):
        db.session.delete(line)
    db.session.flush()
    db.session.expire(session, ["cart"])
    _refresh_subtotal(order)
    _cart_changed(session)
    return order
