"""Settlement: the one use-case for every way an order is paid.

Cash and stored value at the API, a payment code charged at the till, a QR-code or in-WeChat
trade applied when WeChat Pay notifies it (or reconciliation learns of it): all of them go
through `settle_order`, which charges the order in the caller's transaction — payments, stored
value, points, coupons, the visit, the tier, the order status, the domain event and the store
events — or raises and applies nothing.

Before a payment provider is asked for money, `check_settlement` makes the same checks without
writing or locking anything: the bill is priced (`tablerules.pricing`), the tenders are planned
(`tablerules.tenders.plan_tenders`) and the stored value and points are held against the
member's balances. The provider is then called outside any transaction, and `settle_order` runs
once the money is in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext, lazy_gettext
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.actor import Actor
from app.audit.service import record
from app.coupons import service as coupons
from app.db import db
from app.errors import APIError, Conflict, NotFound, Unprocessable
from app.events.domain import DomainEvent, publish
from app.events.models import EventKind
from app.events.service import NewEvent
from app.events.service import append_all as append_events
from app.members import service as members
from app.members.ledger import Refs
from app.members.models import Member, MemberSettings, MemberVisit, PointsLot
from app.orders.access import find_order, lock_order, require_open
from app.orders.cart import close_session
from app.orders.documents import billable_lines, receipt_document
from app.orders.models import BillSplit, Order, Payment, PaymentKind, SplitStatus
from app.orders.state import ORDERS, OrderEvent, OrderStatus
from app.orders.table_moves import PAYING_ELSEWHERE, announce_table_change
from app.tables.models import DiningTable
from app.tables.service import move_table
from app.tables.state import TableEvent, TableState
from app.tenants.models import Store
from tablerules import money, pricing
from tablerules import points as points_rules
from tablerules import stored_value as stored_value_rules
from tablerules.bill import ChargedBill, EarnTerms, MemberSnapshot
from tablerules.tenders import (
    INVALID_TENDER,
    NOTHING_LEFT_TO_PAY,
    ONE_WECHAT_TENDER,
    REFUND_EXCEEDS_PAID,
    TENDERS_DO_NOT_COVER_TOTAL,
    TENDERS_EXCEED_TOTAL,
    Tender,
    TenderError,
    TenderPlan,
    TenderType,
    plan_tenders,
    wechat_remainder,
)


@dataclass(frozen=True)
class TenderRequest:
    type: TenderType
    amount_cents: int
    external_ref: str | None = None  # the provider's transaction id (WeChat Pay)
    payer: str | None = None  # who paid through the provider (WeChat: openid)

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", TenderType.parse(self.type))  # an API label is accepted too


@dataclass(frozen=True)
class HonouredTerms:
    """The tier discount and rounding a till priced an offline sale with: a sync honours them
    even if the member's tier or the store's rounding changed meanwhile."""

    tier_name: str
    tier_discount_percent: int
    rounding: str


@dataclass(frozen=True)
class SettleRequest:
    member_id: int | None = None
    points: int = 0
    coupon_ids: Sequence[int] = ()
    tenders: Sequence[TenderRequest] = field(default_factory=tuple)
    honoured: HonouredTerms | None = None
    # A split bill's shares: their stored value was taken from each payer's card as they paid
    # (app.orders.split), so the settlement records the tender without charging a card again.
    stored_value_collected: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "coupon_ids", tuple(self.coupon_ids))
        object.__setattr__(self, "tenders", tuple(self.tenders))

    @property
    def other_tenders(self) -> tuple[TenderRequest, ...]:
        """The tenders a payment provider does not collect (cash, stored value)."""
        return tuple(t for t in self.tenders if t.type is not TenderType.WECHAT)

    def paid_through_provider(self, transaction_id: str | None, payer: str | None) -> SettleRequest:
        """The same settlement, its WeChat tender carrying the provider's transaction and payer."""
        return replace(self, tenders=tuple(
            replace(t, external_ref=transaction_id, payer=payer) if t.type is TenderType.WECHAT else t
            for t in self.tenders))

    def params(self) -> dict:
        """What a payment intent keeps to settle with once the money is in (the WeChat tender is
        the intent's own amount)."""
        return {"points": self.points, "coupon_ids": list(self.coupon_ids),
                "tenders": [Tender(t.type, t.amount_cents).to_dict() for t in self.other_tenders]}

    @classmethod
    def from_params(cls, params: dict, *, member_id: int | None, wechat: TenderRequest) -> SettleRequest:
        others = [Tender.from_dict(t) for t in params.get("tenders", [])]
        return cls(member_id=member_id, points=params.get("points", 0), coupon_ids=params.get("coupon_ids", []),
                   tenders=[*(TenderRequest(t.type, t.amount_cents) for t in others), wechat])


# --- errors ------------------------------------------------------------------------------------

_TENDER_MESSAGES = {
    TENDERS_DO_NOT_COVER_TOTAL: lazy_gettext("The tenders do not cover the total."),
    TENDERS_EXCEED_TOTAL: lazy_gettext("Only cash may exceed the total."),
    NOTHING_LEFT_TO_PAY: lazy_gettext("The other tenders already cover the bill; nothing is left for WeChat Pay."),
    ONE_WECHAT_TENDER: lazy_gettext("Give exactly one WeChat tender."),
    INVALID_TENDER: lazy_gettext("Every tender must be a positive amount."),
    REFUND_EXCEEDS_PAID: lazy_gettext("More than was paid cannot be refunded."),
}
_WECHAT_NOT_THE_REST = lazy_gettext("The WeChat tender must be what is left of the bill after the other tenders.")


def tender_error(error: TenderError) -> APIError:
    """The API's answer to a tender plan that cannot pay the bill: 422 with the rule's code."""
    message = _WECHAT_NOT_THE_REST if "wechat_cents" in error.details else _TENDER_MESSAGES[error.code]
    return Unprocessable(str(message), error_code=error.code, details=error.details)


def _not_enough_stored_value(member: Member, requested: int) -> Conflict:
    return Conflict(gettext("Not enough stored value."), error_code="insufficient_balance",
                    details={"available_cents": member.stored_value_cents, "requested_cents": requested})


# --- the bill ----------------------------------------------------------------------------------

def _bill_lines(order: Order) -> list[pricing.BillLine]:
    return [pricing.BillLine(line_id=line.id, dish_id=line.dish_id, category_id=line.category_id, name=line.name,
                             unit_price_cents=line.unit_price_cents, qty=line.qty,
                             is_discountable=line.is_discountable) for line in billable_lines(order)]


def _coupons(order: Order, member: Member | None, coupon_ids: Sequence[int], now: datetime,
             lock: bool) -> list:
    if not coupon_ids:
        return []
    if member is None:
        raise Unprocessable(gettext("Coupons need a member."), error_code="member_required")
    return coupons.coupons_for_bill(member.id, list(coupon_ids), now, lock=lock,
                                    actor=Actor.system(order.merchant_id))


def price_order(order: Order, *, member: Member | None, points: int, coupon_ids: Sequence[int], now: datetime,
                lock: bool = False, store: Store | None = None,
                settings: MemberSettings | None = None, honoured: HonouredTerms | None = None) -> pricing.PricedBill:
    """The one pricing of an order: the bill preview, the pushed bill, the diner's bill page and
    the settlement (`lock=True`: the coupons are locked until the transaction ends) alike.
    `store` and `settings`, when the caller holds them, save reading them again (a bill with no
    member needs no member settings: only a member redeems points); `honoured` are the terms a
    till priced an offline sale with."""
    points_rule = None
    if member is not None:
        settings = settings or members.settings_for(order.merchant_id)
        points_rule = pricing.PointsRedeemRule(settings.cents_per_point, settings.max_points_share_percent)
    store = store or order.store
    tier = pricing.TierDiscount(member.tier.name, member.tier.discount_percent) if member else None
    if honoured is not None and member is not None:
        tier = pricing.TierDiscount(honoured.tier_name or member.tier.name, honoured.tier_discount_percent)
    try:
        return pricing.price_bill(
            _bill_lines(order),
            tier=tier,
            coupons=_coupons(order, member, coupon_ids, now, lock),
            member_id=member.id if member else None,
            points_to_redeem=points,
            points_balance=member.points if member else 0,
            points_rule=points_rule,
            rounding=pricing.Rounding(honoured.rounding if honoured is not None else store.rounding),
            now=now,
        )
    except pricing.PricingError as error:
        status = 409 if error.code == "insufficient_points" else 422
        raise Conflict(error.message, error_code=error.code, details=error.details, status=status) from None


def preview_bill(order_id: int, *, member_id: int | None, points: int, coupon_ids: Sequence[int], actor: Actor,
                 now: datetime) -> pricing.PricedBill:
    """Exactly what settle would charge with the same member, points and coupons (reading only)."""
    order = find_order(order_id, actor)
    member = _member(member_id, actor, lock=False) if member_id is not None else None
    return price_order(order, member=member, points=points, coupon_ids=coupon_ids, now=now)


# --- checking: what the settlement would charge ----------------------------------------------------

@dataclass(frozen=True)
class Settlement:
    """A settlement checked against the order, the member and the tenders: what it charges."""

    order: Order
    member: Member | None
    store: Store
    settings: MemberSettings | None  # read for a member's bill only
    bill: pricing.PricedBill
    tenders: TenderPlan
    request: SettleRequest  # with the WeChat tender worked out, when it takes the rest


# The merchant's member with their tier — and the merchant's member settings, which every
# settlement reads — in one statement; built once, read as is or locked for the settlement.
_MEMBER = (sa.select(Member, MemberSettings)
           .outerjoin(MemberSettings, MemberSettings.merchant_id == Member.merchant_id)
           .where(Member.id == sa.bindparam("member_id"), Member.merchant_id == sa.bindparam("merchant_id"))
           .options(joinedload(Member.tier)))
_MEMBER_LOCKED = _MEMBER.with_for_update(of=Member).execution_options(populate_existing=True)


def _member(member_id: int, actor: Actor, *, lock: bool) -> Member:
    """The member with their tier (see `_MEMBER`), the row locked for the settlement."""
    row = db.session.execute(_MEMBER_LOCKED if lock else _MEMBER,
                             {"member_id": member_id, "merchant_id": actor.merchant_id}).unique().one_or_none()
    if row is None:
        raise NotFound("member")
    member, settings = row
    if settings is not None:
        members.remember_settings(settings)
    return member


def _plan(order: Order, member: Member | None, request: SettleRequest, *, now: datetime, lock: bool,
          wechat_rest: bool = False, asked_cents: int | None = None) -> Settlement:
    require_open(order)
    if not request.stored_value_collected:
        _split_in_progress(order, set_aside=lock)
    if not billable_lines(order):
        raise Conflict(gettext("There is nothing on this order to pay for."), error_code="order_empty")
    uses_stored_value = any(t.type is TenderType.STORED_VALUE for t in request.tenders) \
        and not request.stored_value_collected
    if member is None and (uses_stored_value or request.points):
        raise Unprocessable(gettext("Stored value and points need a member."), error_code="member_required")
    settings = members.settings_for(order.merchant_id) if member is not None else None
    store = order.store
    bill = price_order(order, member=member, points=request.points, coupon_ids=request.coupon_ids, now=now,
                       lock=lock, store=store, settings=settings, honoured=request.honoured)
    try:
        if wechat_rest:
            rest = wechat_remainder(bill.payable_cents, request.tenders, asked_cents=asked_cents)
            request = replace(request, tenders=(*request.tenders, TenderRequest(TenderType.WECHAT, rest)))
        tenders = plan_tenders(bill.payable_cents, request.tenders)
    except TenderError as error:
        raise tender_error(error) from None
    stored_value = 0 if request.stored_value_collected else tenders.handed_cents(TenderType.STORED_VALUE)
    if stored_value and member.stored_value_cents < stored_value:
        raise _not_enough_stored_value(member, stored_value)
    return Settlement(order, member, store, settings, bill, tenders, request)


def check_settlement(order_id: int, request: SettleRequest, *, actor: Actor, now: datetime,
                     wechat_rest: bool = False, asked_cents: int | None = None) -> Settlement:
    """Every check `settle_order` makes, reading only: run it before a provider is asked for
    money, so a settlement that cannot succeed never charges anyone. (Something that changes in
    between — a coupon used elsewhere, the balance spent at another till — still makes the
    settlement fail after the payment; the caller gives the money back then.)

    With `wechat_rest`, WeChat Pay takes what the request's tenders leave of the bill
    (`asked_cents`, when the caller names it, must be exactly that); the answer's `request`
    carries that WeChat tender."""
    order = find_order(order_id, actor)
    member = _member(request.member_id, actor, lock=False) if request.member_id is not None else None
    plan = _plan(order, member, request, now=now, lock=False, wechat_rest=wechat_rest, asked_cents=asked_cents)
    if plan.bill.points_redeemed:
        lots = db.session.scalars(sa.select(PointsLot).where(
            PointsLot.member_id == member.id, PointsLot.remaining_points > 0))
        usable = points_rules.usable_points(
            [points_rules.PointsLot(lot.id, lot.remaining_points, lot.earned_at, lot.expires_at) for lot in lots], now)
        if usable < plan.bill.points_redeemed:
            raise Conflict(gettext("Not enough points."), error_code="insufficient_points")
    return plan


# --- settling --------------------------------------------------------------------------------------

def _split_in_progress(order: Order, *, set_aside: bool) -> None:
    """A bill being paid in shares on the diners' phones is settled by its last share: another
    settlement would charge the shares already paid a second time. An open split with nothing
    paid yet is simply set aside."""
    if order.table_id is None:  # splits are made at a table only
        return
    split = db.session.scalar(sa.select(BillSplit).where(BillSplit.order_id == order.id,
                                                         BillSplit.status == SplitStatus.OPEN))
    if split is None:
        return
    paid = sum(share.amount_cents for share in split.shares if share.is_paid)
    if paid:
        raise Conflict(gettext("Diners are paying this bill in shares (%(paid)s paid so far); the last share "
                               "settles it.", paid=money.format_cny(paid)), error_code="split_in_progress",
                       details={"paid_cents": paid})
    if set_aside:
        split.status = SplitStatus.CANCELLED


def settle_order(order_id: int, request: SettleRequest, *, actor: Actor, key: str, now: datetime) -> Order:
    """Charge the order: payments, stored value, points, coupons, the visit, the tier, the order
    status and the events, all in the caller's transaction. Anything short raises and nothing is
    applied. `key` is the settlement's idempotency key (the ledger entries' keys derive from it)."""
    order = lock_order(order_id, actor)
    member = _member(request.member_id, actor, lock=True) if request.member_id is not None else None
    plan = _plan(order, member, request, now=now, lock=True)
    _apply(plan, request, actor=actor, key=key, now=now)
    return order


def cancel_order(order_id: int, *, reason: str, actor: Actor, now: datetime) -> Order:
    """撤单: close an open order with nothing left on it to pay — every dish voided, each with its
    reason (audited) — so that its table is free again. Refused (409 `order_not_empty`) while a
    dish is still on it: a dish leaves an order only by 退菜, one by one."""
    order = lock_order(order_id, actor)
    require_open(order)
    left = billable_lines(order)
    if left:
        raise Conflict(gettext("Dishes are still on this order: void them first."), error_code="order_not_empty",
                       details={"lines": len(left)})
    if any(paying([order.id]) for paying in PAYING_ELSEWHERE):  # a diner may be paying the old bill
        raise Conflict(gettext("This order is being paid by WeChat right now; it cannot be cancelled."),
                       error_code="order_paying")
    _split_in_progress(order, set_aside=True)
    order.status = ORDERS.next(order.status, OrderEvent.VOID)
    record("order.cancel", order, actor=actor, reason=reason, table=order.table_code)
    if order.table_id is not None:
        close_session(order, now)
        table = db.session.get(DiningTable, order.table_id)
        others = db.session.scalar(sa.select(Order.id).where(
            Order.table_id == table.id, Order.status == OrderStatus.OPEN, Order.id != order.id).limit(1))
        if others is None and table.state is not TableState.FREE:  # the party's last order: the table is free
            move_table(table, TableEvent.CLEAR, now)
        db.session.flush()
        announce_table_change(table, table, "cancel", [order.id])
    return order


# Built once: a statement made per call costs more Python than the ORM instance it replaces.
_INSERT_PAYMENT = sa.insert(Payment.__table__)
_INSERT_VISIT = sa.insert(MemberVisit.__table__)


# The order's columns a settlement sets, given as the parameters (built once).
_CHARGE_ORDER = sa.update(Order.__table__).where(Order.__table__.c.id == sa.bindparam("charged_order_id"))


def _charge(order: Order, values: dict) -> None:
    """Write the settlement's columns of the locked order with one plain UPDATE and set them on
    the instance as committed: the unit of work's change tracking and flush of that one row cost
    a tenth of a settlement's CPU."""
    db.session.execute(_CHARGE_ORDER, {"charged_order_id": order.id, **values})
    for name, value in values.items():
        set_committed_value(order, name, value)


def _apply(plan: Settlement, request: SettleRequest, *, actor: Actor, key: str, now: datetime) -> None:
    order, member, bill, tenders = plan.order, plan.member, plan.bill, plan.tenders
    refs = Refs(order_id=order.id, store_id=order.store_id)
    # The balances as locked: the snapshot on the receipt is worked out from them, not read again.
    before = (member.principal_cents, member.bonus_cents, member.points) if member else (0, 0, 0)

    stored_value = 0 if request.stored_value_collected else tenders.handed_cents(TenderType.STORED_VALUE)
    earned, earn, split = 0, None, None
    if member is not None:
        earn = EarnTerms(members.earn_rule(plan.settings), member.tier.points_multiplier_percent)
        earned = points_rules.points_earned(earn.rule, tenders.applied_by_label(), earn.multiplier_percent)
        split = members.charge_for_order(member, stored_value_cents=stored_value, redeem=bill.points_redeemed,
                                         earn=earned, key=key, now=now, refs=refs, actor=actor).stored_value
    used_coupons = [c for c in bill.coupon_ids_used if c is not None]
    if used_coupons:
        coupons.redeem_coupons(used_coupons, order_id=order.id, key=key, now=now, store_id=order.store_id,
                               actor=actor)

    # The payments and the visit are plain inserts, not ORM instances: nothing in the settlement
    # reads them back, and the unit of work's bookkeeping was a good part of a settlement's CPU.
    references = {t.type: t.external_ref for t in request.tenders if t.external_ref}
    payments = [{"merchant_id": order.merchant_id, "order_id": order.id, "store_id": order.store_id,
                 "tender": tender, "kind": PaymentKind.CHARGE, "amount_cents": handed,
                 "change_cents": tenders.change_cents if tender is TenderType.CASH else 0,
                 "external_ref": references.get(tender), "staff_id": actor.staff_id, "device_id": actor.device_id,
                 "reason": ""}
                for tender, handed in tenders.handed]
    if payments:
        db.session.execute(_INSERT_PAYMENT, payments)
        db.session.expire(order, ["payments"])  # read afresh if anything asks for them

    snapshot = None
    if member is not None:
        db.session.execute(_INSERT_VISIT, {
            "merchant_id": order.merchant_id, "member_id": member.id, "order_id": order.id,
            "store_id": order.store_id, "visited_at": now, "paid_cents": bill.payable_cents, "refunded_cents": 0,
            "stored_value_cents": stored_value, "points_earned": earned, "points_redeemed": bill.points_redeemed,
            "items": [{"name": line.name, "qty": line.qty, "amount_cents": line.amount_cents}
                      for line in billable_lines(order)],
            "tenders": [{"type": label, "amount_cents": cents}
                        for label, cents in tenders.applied_by_label() if cents]})
        members.consider_upgrade(member, now, actor=actor)
        spent = split or stored_value_rules.StoredValueSplit(0, 0)
        snapshot = MemberSnapshot(
            id=member.id, member_no=member.member_no, name=member.name, tier=member.tier.name,
            points=before[2] - bill.points_redeemed + earned,
            stored_value_cents=before[0] + before[1] - spent.total_cents)

    _charge(order, {
        "status": ORDERS.next(order.status, OrderEvent.PAY), "member_id": member.id if member else None,
        "discount_cents": bill.discount_cents, "payable_cents": bill.payable_cents,
        "paid_cents": bill.payable_cents, "change_cents": tenders.change_cents, "paid_at": now,
        "settled_by_id": actor.staff_id,
        "bill": ChargedBill(
            priced=bill, tenders=tuple(Tender(t.type, t.amount_cents) for t in request.tenders),
            change_cents=tenders.change_cents, stored_value_split=split, points_earned=earned, earn=earn,
            member=snapshot).to_dict()})
    if order.table_id is not None:
        move_table(db.session.get(DiningTable, order.table_id), TableEvent.PAY, now)
        close_session(order, now)
    publish(order.merchant_id, DomainEvent.ORDER_PAID, str(order.id),
            {"order_id": order.id, "payer_openid": next((t.payer for t in request.tenders if t.payer), None)},
            now=now)
    append_events(order.merchant_id, order.store_id, [
        NewEvent(EventKind.ORDER_PAID, {"order_id": order.id, "table": order.table_code,
                                        "payable_cents": order.payable_cents}, order.id),
        NewEvent(EventKind.PRINT_JOB, receipt_document(order), order.id)])


def settle_result(order: Order) -> dict:
    """The answer to a settlement (API.md), from the bill as charged."""
    bill = order.charged_bill
    return {"id": order.id, "status": order.status.label, "subtotal_cents": bill.priced.subtotal_cents,
            "discount_cents": bill.priced.discount_cents, "payable_cents": bill.payable_cents,
            "paid_cents": order.paid_cents, "change_cents": order.change_cents,
            "lines": [step.to_dict() for step in bill.priced.steps], "points_earned": bill.points_earned,
            "member": bill.member.to_dict() if bill.member else None}
