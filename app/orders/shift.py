"""A cashier's shift: what came in and went out, by tender, and the cash that should be in the drawer.

`summarize` is pure; `shift_summary` gathers its inputs from the database for one cashier and
one time window (from their last close, or the start of the day, to now).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.audit.models import AuditEntry
from app.db import TenantMixin, UTCDateTime, db, utcnow
from app.members.models import Account, EntryKind, LedgerEntry
from app.orders.models import Payment, PaymentKind, Tender
from tablerules.points import CHINA_TZ


@dataclass(frozen=True)
class Movement:
    tender: str  # cash | stored_value | wechat
    kind: str  # sale | refund | topup | cashout
    cents: int  # what moved, positive


def summarize(movements: Iterable[Movement], *, voids: int, void_cents: int, opening_float_cents: int) -> dict:
    sales: dict[str, int] = defaultdict(int)
    refunds: dict[str, int] = defaultdict(int)
    topups: dict[str, int] = defaultdict(int)
    cashouts = 0
    count = 0
    for m in movements:
        if m.kind == "sale":
            sales[m.tender] += m.cents
            count += 1
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
        movements.append(Movement(Tender(p.tender).label, kind, p.net_cents))
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
