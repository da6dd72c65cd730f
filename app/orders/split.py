"""A table's bill split between the diners: equal shares (`tablerules.split`), each paid on its
own phone by WeChat Pay or stored value, "pay the rest" paying every share still open at once.

- Making a split fixes the payable (priced for the member who splits, with their coupons) and
  cuts it into shares that add up to it exactly in fen. Splitting again is allowed while no
  share is paid (the old split is cancelled).
- Paying shares: the order is locked, the bill must still cost what the split says, and the
  shares turn paid only from unpaid (a conditional UPDATE), with the payment's idempotency key
  (UNIQUE per merchant): a share is never paid twice. Stored value is taken from the payer's own
  card right then; a WeChat Pay share is applied here from the verified notification.
- When the shares paid cover the payable, the order is settled through the one settlement with
  the shares' tenders (`stored_value_collected`: the cards were charged already), in the same
  transaction as the last share.

Every change appends `bill_split_changed` to the store log so every phone at the table shows
the shares turn paid. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext

from app.actor import Actor
from app.db import db
from app.errors import Conflict, NotFound, Unprocessable
from app.events.models import EventKind
from app.events.service import append as append_event
from app.members import service as members
from app.members.ledger import Refs, lock_member
from app.members.models import Member
from app.orders.access import lock_order, require_open
from app.orders.models import BillShare, BillSplit, Order, SplitStatus
from app.orders.settlement import SettleRequest, TenderRequest, price_order, settle_order
from tablerules import split as rules
from tablerules.tenders import TenderType


def open_split(order: Order, *, lock: bool = False) -> BillSplit | None:
    query = sa.select(BillSplit).where(BillSplit.order_id == order.id, BillSplit.status == SplitStatus.OPEN)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(query)


def latest_split(order: Order) -> BillSplit | None:
    """The split the bill page shows: the open one, or the one that settled the order."""
    return db.session.scalar(sa.select(BillSplit).where(
        BillSplit.order_id == order.id, BillSplit.status.in_([SplitStatus.OPEN, SplitStatus.SETTLED]))
        .order_by(BillSplit.id.desc()).limit(1))


def _bill_changed() -> Conflict:
    return Conflict(gettext("The bill changed just now; please look at it again."), error_code="bill_changed")


def _announce(order: Order, split: BillSplit) -> None:
    append_event(order.merchant_id, order.store_id, EventKind.BILL_SPLIT_CHANGED,
                 {"order_id": order.id, "table": order.table_code, "split_id": split.id,
                  "paid": sum(1 for share in split.shares if share.is_paid), "shares": split.share_count},
                 order_id=order.id)


def current_amounts(order: Order, split: BillSplit, now: datetime) -> dict[int, int]:
    """Each share's amount as the bill stands now (reading only): when dishes were added after
    some shares were paid, what is left is shared again between the open ones."""
    payable = _payable_now(order, split, now)
    if payable == split.payable_cents:
        return {share.id: share.amount_cents for share in split.shares}
    open_shares = [share for share in split.shares if not share.is_paid]
    try:
        again = rules.reshare(payable, [share.amount_cents for share in split.shares if share.is_paid],
                              len(open_shares))
    except rules.SplitError:
        return {share.id: share.amount_cents for share in split.shares}
    amounts = {share.id: share.amount_cents for share in split.shares}
    amounts.update({share.id: amount for share, amount in zip(open_shares, again, strict=True)})
    return amounts


def _payable_now(order: Order, split: BillSplit, now: datetime) -> int:
    member = db.session.get(Member, split.member_id) if split.member_id is not None else None
    return price_order(order, member=member, points=0, coupon_ids=split.coupon_ids, now=now).payable_cents


def _follow_the_bill(order: Order, split: BillSplit, now: datetime) -> None:
    """The split locked: if the bill changed since it was made, share what is left again between
    the open shares (or, when nothing can be shared, refuse: the bill changed)."""
    payable = _payable_now(order, split, now)
    if payable == split.payable_cents:
        return
    if not any(share.is_paid for share in split.shares):
        raise _bill_changed()  # nothing paid yet: the diners split the new bill again
    open_shares = [share for share in split.shares if not share.is_paid]
    try:
        again = rules.reshare(payable, [share.amount_cents for share in split.shares if share.is_paid],
                              len(open_shares))
    except rules.SplitError:
        raise Conflict(gettext("The bill is now less than the shares paid; please ask the staff."),
                       error_code="bill_below_paid") from None
    for share, amount in zip(open_shares, again, strict=True):
        share.amount_cents = amount
    split.payable_cents = payable
    db.session.flush()


def make_split(order_id: int, *, count: int, member: Member | None, coupon_ids: Sequence[int], made_by: str,
               actor: Actor, now: datetime) -> BillSplit:
    """Split the order's bill into `count` equal shares (priced for `member`, with `coupon_ids`)."""
    order = lock_order(order_id, actor)
    require_open(order)
    earlier = open_split(order, lock=True)
    if earlier is not None:
        if any(share.is_paid for share in earlier.shares):
            raise Conflict(gettext("Some shares of this bill are paid already; it cannot be split again."),
                           error_code="split_started")
        earlier.status = SplitStatus.CANCELLED
        db.session.flush()
    priced = price_order(order, member=member, points=0, coupon_ids=list(coupon_ids), now=now)
    try:
        amounts = rules.equal_shares(priced.payable_cents, count)
    except rules.SplitError as error:
        raise Unprocessable(gettext("A bill is split into 2 to 20 shares of at least ¥0.01."),
                            error_code=error.code) from None
    split = BillSplit(merchant_id=order.merchant_id, order_id=order.id, payable_cents=priced.payable_cents,
                      share_count=count, member_id=member.id if member is not None else None,
                      coupon_ids=sorted(set(coupon_ids)), made_by=made_by[:60])
    db.session.add(split)
    db.session.flush()
    for number, amount in enumerate(amounts, start=1):
        db.session.add(BillShare(merchant_id=order.merchant_id, split_id=split.id, number=number, amount_cents=amount))
    db.session.flush()
    db.session.refresh(split)
    _announce(order, split)
    return split


def pay_shares(order_id: int, share_ids: Sequence[int], *, tender: TenderRequest, payer: Member | None,
               paid_by: str, key: str, actor: Actor, now: datetime) -> BillSplit:
    """Pay these shares of the order's open split with one tender (its amount must be theirs).
    Stored value comes from `payer`'s card. Settles the order when the shares cover it.
    409 `share_already_paid`, `bill_changed`, `insufficient_stored_value`; 404 for a share that is
    not the split's."""
    order = lock_order(order_id, actor)
    require_open(order)
    split = open_split(order, lock=True)
    ids = sorted(set(share_ids))
    if split is None:
        raise _bill_changed()
    chosen = [share for share in split.shares if share.id in ids]
    if not ids or len(chosen) != len(ids):
        raise NotFound("share")
    if any(share.is_paid for share in chosen):
        raise Conflict(gettext("This share is paid already."), error_code="share_already_paid")
    _follow_the_bill(order, split, now)
    amount = sum(share.amount_cents for share in chosen)
    if tender.amount_cents != amount:
        raise _bill_changed()
    if tender.type is TenderType.STORED_VALUE:
        if payer is None:
            raise Unprocessable(gettext("Only members can pay with stored value."), error_code="member_required")
        card = lock_member(payer.id, actor=actor)
        if card.stored_value_cents < amount:
            raise Conflict(gettext("Your stored value is not enough for this share."),
                           error_code="insufficient_stored_value")
        members.charge_for_order(card, stored_value_cents=amount, redeem=0, earn=0, key=key, now=now,
                                 refs=Refs(order_id=order.id, store_id=order.store_id), actor=actor)
    elif tender.type is not TenderType.WECHAT:
        raise Unprocessable(gettext("A share is paid by WeChat Pay or stored value."), error_code="invalid_tender")
    moved = 0
    for share in chosen:  # each share keyed by the payment that paid it (UNIQUE): paid once
        moved += db.session.execute(
            sa.update(BillShare).where(BillShare.id == share.id, BillShare.paid_at.is_(None))
            .values(paid_at=now, payment_key=f"{key}:{share.number}", tender=tender.type, paid_by=paid_by[:60],
                    payer_member_id=payer.id if payer is not None else None, external_ref=tender.external_ref,
                    payer_openid=tender.payer)
            .execution_options(synchronize_session=False)).rowcount
    if moved != len(ids):  # pragma: no cover - the split is locked; SQLite writers queue
        raise Conflict(gettext("This share is paid already."), error_code="share_already_paid")
    for share in split.shares:
        db.session.refresh(share)
    _announce(order, split)
    if rules.is_covered(split.payable_cents, [share.amount_cents for share in split.shares if share.is_paid]):
        tenders = [TenderRequest(share.tender, share.amount_cents, external_ref=share.external_ref,
                                 payer=share.payer_openid) for share in split.shares]
        settle_order(order.id, SettleRequest(member_id=split.member_id, coupon_ids=split.coupon_ids,
                                             tenders=tenders, stored_value_collected=True),
                     actor=actor, key=f"split-{split.id}", now=now)
        split.status = SplitStatus.SETTLED
    return split
