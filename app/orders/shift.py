"""A cashier's shift: what came in and went out, by tender, and the cash that should be in the drawer.

`summarize` is pure; `shift_summary` gathers its inputs from the database for one cashier and
one time window (from their last close, or the start of the day, to now); `shift_document` is
the closed shift as the till prints it (`tablerules.documents.ShiftSummary`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.orm import Mapped, mapped_column

from app.actor import Actor
from app.audit.models import AuditEntry
from app.db import TenantMixin, UTCDateTime, db, utcnow
from app.errors import Unprocessable
from app.events.models import EventKind
from app.events.service import append as append_event
from app.members.models import Account, EntryKind, LedgerEntry
from app.orders.models import Payment, PaymentKind
from tablerules import documents as contract
from tablerules.points import CHINA_TZ
from tablerules.tenders import TenderType


@dataclass(frozen=True)
class Movement:
    tender: str  # cash | stored_value | wechat
    kind: str  # sale | refund | topup | cashout
    cents: int  # what moved, positive
    order_id: int | None = None  # a sale's order: a bill paid with two tenders is one sale


def summarize(movements: Iterable[Movement], *, voids: int, void_cents: int, opening_float_cents: int) -> dict:
    sales: dict[str, int] = defaultdict(int)
    refunds: dict[str, int] = defaultdict(int)
    topups: dict[str, int] = defaultdict(int)
    cashouts = 0
    orders: set[int] = set()
    count = 0
    for m in movements:
        if m.kind == "sale":
            sales[m.tender] += m.cents
            if m.order_id is None or m.order_id not in orders:
                count += 1
            if m.order_id is not None:
                orders.add(m.order_id)
        elif m.kind == "refund":
            refunds[m.tender] += m.cents
        elif m.kind == "topup":
            topups[m.tender] += m.cents
        elif m.kind == "cashout":
            cashouts += m.cents
    expected_cash = (opening_float_cents + sales.get("cash", 0) - refunds.get("cash", 0)
                     + topups.get("cash", 0) - cashouts)
    return {
        "sales_by_tender": dict(sorted(sales.items())), "sales_cents": sum(sales.values()), "sales_count": count,
        "refunds_by_tender": dict(sorted(refunds.items())), "refunds_cents": sum(refunds.values()),
        "topups_by_tender": dict(sorted(topups.items())), "cashouts_cents": cashouts,
        "voids": voids, "void_cents": void_cents,
        "opening_float_cents": opening_float_cents, "expected_cash_cents": expected_cash,
    }


class ShiftClose(TenantMixin, db.Model):
    __tablename__ = "shift_close"
    __table_args__ = (sa.Index("ix_shift_close_staff_time", "staff_id", "closed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="RESTRICT"))
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id", ondelete="RESTRICT"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    summary: Mapped[dict] = mapped_column(sa.JSON)
    counted_cash_cents: Mapped[int] = mapped_column(sa.BigInteger)
    difference_cents: Mapped[int] = mapped_column(sa.BigInteger)


def shift_start(staff_id: int, now: datetime) -> datetime:
    last = db.session.scalar(sa.select(sa.func.max(ShiftClose.closed_at)).where(ShiftClose.staff_id == staff_id))
    local_midnight = now.astimezone(CHINA_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    start_of_day = local_midnight.astimezone(now.tzinfo)
    if last is None:
        return start_of_day
    return max(last, start_of_day - timedelta(days=1))


def shift_summary(staff_id: int, store_id: int, start: datetime, end: datetime, *, opening_float_cents: int) -> dict:
    movements: list[Movement] = []
    payments = db.session.scalars(sa.select(Payment).where(
        Payment.staff_id == staff_id, Payment.store_id == store_id,
        Payment.created_at >= start, Payment.created_at < end))
    for p in payments:
        kind = "sale" if p.kind is PaymentKind.CHARGE else "refund"
        movements.append(Movement(TenderType(p.tender).label, kind, p.net_cents, p.order_id))
    entries = db.session.scalars(sa.select(LedgerEntry).where(
        LedgerEntry.staff_id == staff_id, LedgerEntry.store_id == store_id, LedgerEntry.account == Account.PRINCIPAL,
        LedgerEntry.kind.in_([EntryKind.TOPUP, EntryKind.CASHOUT, EntryKind.TOPUP_REFUND]),
        LedgerEntry.created_at >= start, LedgerEntry.created_at < end))
    for e in entries:
        if e.kind is EntryKind.TOPUP:
            movements.append(Movement(e.note or "cash", "topup", e.delta))
        else:  # cash paid out of the drawer
            movements.append(Movement("cash", "cashout", -e.delta))
    voids = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.staff_id == staff_id, AuditEntry.action == "order.void_line",
        AuditEntry.created_at >= start, AuditEntry.created_at < end)).all()
    return summarize(movements, voids=len(voids), void_cents=sum(v.details.get("amount_cents", 0) for v in voids),
                     opening_float_cents=opening_float_cents)


def shift_document(closing: ShiftClose, *, cashier: str) -> dict:
    """The shift summary print job of a closed shift."""
    summary = closing.summary

    def by_tender(name: str) -> tuple[contract.TenderAmount, ...]:
        return tuple(contract.TenderAmount(type=t, amount_cents=c) for t, c in summary[name].items())

    return contract.ShiftSummary(
        document_id=f"shift-{closing.id}", shift_no=str(closing.id), cashier=cashier,
        opened_at=closing.opened_at.isoformat(), closed_at=closing.closed_at.isoformat(),
        sales_count=summary["sales_count"], sales_cents=summary["sales_cents"],
        sales_by_tender=by_tender("sales_by_tender"),
        refunds_cents=summary["refunds_cents"], refunds_by_tender=by_tender("refunds_by_tender"),
        topups_by_tender=by_tender("topups_by_tender"), cashouts_cents=summary["cashouts_cents"],
        voids=summary["voids"], void_cents=summary["void_cents"],
        opening_float_cents=summary["opening_float_cents"], expected_cash_cents=summary["expected_cash_cents"],
        counted_cash_cents=closing.counted_cash_cents, difference_cents=closing.difference_cents,
    ).to_dict()


# --- the cashier's shift, for the routes -------------------------------------------------------

@dataclass(frozen=True)
class Shift:
    store_id: int
    staff_id: int
    opened_at: datetime
    summary: dict


def _cashier(actor: Actor) -> tuple[int, int]:
    if actor.staff_id is None or actor.store_id is None:
        raise Unprocessable(gettext("Only staff working at a store have shifts."), error_code="no_store")
    return actor.staff_id, actor.store_id


def current_shift(actor: Actor, *, opening_float_cents: int, now: datetime) -> Shift:
    """The acting cashier's shift so far: sales, refunds, top-ups by tender and the expected cash."""
    staff_id, store_id = _cashier(actor)
    start = shift_start(staff_id, now)
    return Shift(store_id, staff_id, start,
                 shift_summary(staff_id, store_id, start, now, opening_float_cents=opening_float_cents))


def close_shift(actor: Actor, *, opening_float_cents: int, counted_cash_cents: int, now: datetime) -> ShiftClose:
    """Close the acting cashier's shift with the counted cash; the summary prints at the till."""
    shift = current_shift(actor, opening_float_cents=opening_float_cents, now=now)
    closing = ShiftClose(merchant_id=actor.merchant_id, store_id=shift.store_id, staff_id=shift.staff_id,
                         opened_at=shift.opened_at, closed_at=now, summary=shift.summary,
                         counted_cash_cents=counted_cash_cents,
                         difference_cents=counted_cash_cents - shift.summary["expected_cash_cents"])
    db.session.add(closing)
    db.session.flush()
    append_event(actor.merchant_id, shift.store_id, EventKind.PRINT_JOB, shift_document(closing, cashier=actor.name))
    return closing
