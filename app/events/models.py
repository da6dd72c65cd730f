"""The store event log: one append-only table, a gap-free sequence per store.

Readers (kitchen displays, on-site agents, diner pages) keep a cursor — the last `seq` they saw
— and read what comes after it, so a reconnect never loses or repeats anything. `seq` is handed
out by a per-store counter row updated in the writer's transaction: writers of one store queue
on that row, so sequence numbers become visible in order (a plain autoincrement id could commit
out of order and let a reader skip past an event still in flight).
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import IntEnumType, TenantMixin, UTCDateTime, db, enum_check, utcnow


class EventKind(enum.IntEnum):
    TICKET_NEW = 1
    TICKET_CHANGED = 2
    TICKET_CANCELLED = 3
    TICKET_BUMPED = 4
    TICKET_RECALLED = 5
    PRINT_JOB = 6
    CART_CHANGED = 7
    ORDER_SUBMITTED = 8  # diner picks waiting for the waiter's confirmation
    ORDER_PAID = 9
    ORDER_REFUNDED = 10
    BILL_PUSHED = 11
    WAITER_CALLED = 12  # a diner asks for the waiter from the table's phone page
    DEVICE_STATUS = 13  # an on-site agent's printers changed state (paper out, offline, back)
    MENU_CHANGED = 14  # dishes, options, stations, sold-out, tables or tiers changed: agents refresh their copy
    MEMBER_CHANGED = 15  # a member's card, tier or allowance changed: agents refresh their lookup cache
    TABLE_CHANGED = 16  # a table was opened, seated, moved, merged or cleared: the till's table map
    CS_MESSAGE = 17  # a follower wrote to the official account: the store's service inbox
    BILL_SPLIT_CHANGED = 20  # a table's bill was split, or a share of it paid: the table's phones
    ORDER_RUSHED = 21  # 催菜: the till or the diners rush an order's unserved dishes; the kitchen prints a slip
    WAITER_ACKED = 24  # staff acknowledged a waiter call: every staff screen takes its banner down

    @property
    def label(self) -> str:
        return self.name.lower()


KITCHEN_KINDS = frozenset({EventKind.TICKET_NEW, EventKind.TICKET_CHANGED, EventKind.TICKET_CANCELLED,
                           EventKind.TICKET_BUMPED, EventKind.TICKET_RECALLED, EventKind.ORDER_RUSHED})


class StoreEventCounter(TenantMixin, db.Model):
    __tablename__ = "store_event_counter"

    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), primary_key=True)
    last_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class StoreEvent(TenantMixin, db.Model):
    __tablename__ = "store_event"
    __table_args__ = (sa.UniqueConstraint("store_id", "seq"), enum_check("kind", EventKind))

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    kind: Mapped[EventKind] = mapped_column(IntEnumType(EventKind))
    order_id: Mapped[int | None]
    payload: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WaiterCallAck(TenantMixin, db.Model):
    """A waiter call (a ``waiter_called`` event of the store log) acknowledged by staff. The call
    is its event's seq; one acknowledgement per call, however many screens press at once."""

    __tablename__ = "waiter_call_ack"
    __table_args__ = (sa.UniqueConstraint("store_id", "call_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"))
    call_seq: Mapped[int] = mapped_column(sa.BigInteger)
    table_code: Mapped[str] = mapped_column(sa.String(10), default="")
    acked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    acked_by: Mapped[str] = mapped_column(sa.String(60), default="")
    acked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
