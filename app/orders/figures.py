"""The members' figures in the pyramid window, kept as a rollup (`MemberFigures`).

The pyramid, the segments and the manager's member lists need, per member, the counted visits of
the window (a paid bill; a bill refunded in full is none), what they kept paid and the last one.
Over the raw bills that is a scan of every bill of the window; kept per member it is one narrow
row each. It stays exact because it is never adjusted by a difference, always *recomputed* for
the member from their own committed bills:

- after a settlement or a refund of a member's bill commits, the outbox (`ORDER_PAID`,
  `ORDER_REFUNDED`) recomputes the member's row in a transaction of its own, after taking the
  member's row lock — the lock every money change of that member takes — so it reads every
  committed bill and no two recomputations of one member overlap (a late one never writes over
  a fresher one). The settlement, the cashier's hot path, pays nothing for it; the rollup lags
  the bills by the outbox's delay (about a second);
- the window starts at a local midnight (`tablerules.rfm.window_start`): when a new day begins,
  `keep_window` moves the start on and recomputes the members who had bills on the day that
  left the window; recomputations wait on the window row meanwhile (they move its stamp before
  they read it), so none of them is computed against the old start and written after;
- a window that changes length, or a merchant that never had one, is built whole.

Every write of a merchant's rollup rows, and every member joining (or leaving), moves the window's
`stamp` in the same transaction (`bump`): what a process keeps counted from the rollup (the
pyramid's layer totals, `app.analytics.kept_pyramid`) is keyed by it. A recomputation takes the
window row for its update first, so two of one merchant run one after the other and their stamps
commit in that order.

`keep_window` runs in the scheduler every ten minutes (and when the demo data are loaded or the
window's length is changed). Until it has run for today, readers find the window behind
(`current`) and compute from the raw bills, which gives the same figures, only slower.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db import begin_write, db, utcnow
from app.events.domain import DomainEvent, subscribe
from app.members.models import FiguresWindow, Member, MemberFigures
from app.orders.models import Order
from app.orders.state import OrderStatus
from app.outbox.models import OutboxMessage


def _insert():
    return (postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert)(
        MemberFigures)


def bump(connection: sa.Connection, merchant_ids: Iterable[int]) -> None:
    """A new stamp on these merchants' windows (none: nothing kept to key)."""
    table = FiguresWindow.__table__
    for merchant_id in sorted(set(merchant_ids)):  # in id order: two writers never wait crosswise
        connection.execute(sa.update(table).where(table.c.merchant_id == merchant_id)
                           .values(stamp=secrets.randbits(62)))


def stamp(merchant_id: int) -> tuple[datetime, int, int] | None:
    """The merchant's window as committed now (start, months, stamp), read afresh; None without one."""
    row = db.session.execute(sa.select(FiguresWindow.starts_at, FiguresWindow.months, FiguresWindow.stamp)
                             .where(FiguresWindow.merchant_id == merchant_id)).one_or_none()
    return (row.starts_at, row.months, row.stamp) if row is not None else None


@sa.event.listens_for(Session, "after_flush")
def _members_changed(session: Session, _context) -> None:
    """A member joining or leaving changes the pyramid without a rollup write: the stamp moves."""
    merchants = {row.merchant_id for row in (*session.new, *session.deleted) if isinstance(row, Member)}
    merchants |= {row.merchant_id for row in session.dirty if isinstance(row, Member)
                  and sa.inspect(row).attrs.created_at.history.has_changes()}
    merchants.discard(None)
    if merchants:
        bump(session.connection(), merchants)


def _recompute(merchant_id: int, members: sa.ColumnElement[bool]) -> None:
    """Write the figures of the members `members` selects from their bills since the window's
    start: one INSERT … SELECT … ON CONFLICT DO UPDATE (a member without a counted bill gets zeros),
    after moving the window's stamp (which, on PostgreSQL, takes the window row for the update
    before the window's start is read)."""
    bump(db.session.connection(), [merchant_id])
    window = sa.select(FiguresWindow.merchant_id, FiguresWindow.starts_at).where(
        FiguresWindow.merchant_id == merchant_id)
    window = window.subquery("w")
    counted = sa.and_(Order.member_id == Member.id, Order.merchant_id == merchant_id,
                      Order.status == OrderStatus.PAID, Order.paid_at >= window.c.starts_at)
    rows = (sa.select(Member.merchant_id, Member.id, sa.func.count(Order.id),
                      sa.func.coalesce(sa.func.sum(Order.paid_cents - Order.refunded_cents), 0),
                      sa.func.max(Order.paid_at))
            .select_from(window)
            .join(Member, Member.merchant_id == window.c.merchant_id)
            .outerjoin(Order, counted)
            .where(members)
            .group_by(Member.merchant_id, Member.id))
    insert = _insert().from_select(["merchant_id", "member_id", "visits", "spend_cents", "last_visit_at"], rows)
    db.session.execute(insert.on_conflict_do_update(
        index_elements=[MemberFigures.member_id],
        set_={"visits": insert.excluded.visits, "spend_cents": insert.excluded.spend_cents,
              "last_visit_at": insert.excluded.last_visit_at}))


def refresh_member(merchant_id: int, member_id: int) -> None:
    """The member's figures again, in the caller's transaction, which holds the member's row lock:
    nothing when the merchant keeps no window yet."""
    _recompute(merchant_id, Member.id == member_id)


FIGURES_PAID, FIGURES_REFUNDED = "figures.paid", "figures.refunded"


def register() -> None:
    subscribe(DomainEvent.ORDER_PAID, FIGURES_PAID, recompute_after)
    subscribe(DomainEvent.ORDER_REFUNDED, FIGURES_REFUNDED, recompute_after)


def recompute_after(message: OutboxMessage) -> None:
    """ORDER_PAID / ORDER_REFUNDED {order_id}: the figures of the bill's member, recomputed."""
    order_id = message.payload.get("order_id")
    member_id = db.session.scalar(sa.select(Order.member_id).where(
        Order.id == order_id, Order.merchant_id == message.merchant_id)) if isinstance(order_id, int) else None
    if member_id is None:
        return
    begin_write()
    db.session.execute(sa.select(Member.id).where(Member.id == member_id).with_for_update())
    refresh_member(message.merchant_id, member_id)
    db.session.commit()


def current(merchant_id: int, starts_at: datetime, months: int) -> bool:
    """Whether the rollup holds exactly this window (otherwise read the raw bills)."""
    window = db.session.get(FiguresWindow, merchant_id)
    return window is not None and window.months == months and window.starts_at == starts_at


def keep_window(merchant_id: int, starts_at: datetime, months: int, *, now: datetime | None = None) -> str:
    """Bring the merchant's rollup to the window from `starts_at` (`months` long): nothing to do,
    moved on (the members with bills before the new start recomputed), or built whole. Answers
    which, in the caller's transaction."""
    query = sa.select(FiguresWindow).where(FiguresWindow.merchant_id == merchant_id).with_for_update()
    window = db.session.scalar(query)
    if window is not None and window.months == months and window.starts_at == starts_at:
        return "current"
    if window is not None and window.months == months and window.starts_at < starts_at:
        old = window.starts_at
        window.starts_at, window.built_at = starts_at, now or utcnow()
        db.session.flush()
        left = (sa.select(Order.member_id).where(
            Order.merchant_id == merchant_id, Order.status == OrderStatus.PAID, Order.member_id.is_not(None),
            Order.paid_at >= old, Order.paid_at < starts_at).distinct())
        _recompute(merchant_id, Member.id.in_(left))
        return "moved"
    # A new window, another length, or asked for an earlier start: everything again.
    if window is None:
        window = FiguresWindow(merchant_id=merchant_id, starts_at=starts_at, months=months, built_at=now or utcnow())
        db.session.add(window)
    else:
        window.starts_at, window.months, window.built_at = starts_at, months, now or utcnow()
    db.session.flush()
    db.session.execute(sa.delete(MemberFigures).where(MemberFigures.merchant_id == merchant_id))
    _recompute(merchant_id, Member.merchant_id == merchant_id)
    return "built"


def forget(merchant_ids: Iterable[int]) -> None:
    """Drop the rollup of these merchants (it is built again by the next `keep_window`)."""
    ids = list(merchant_ids)
    db.session.execute(sa.delete(MemberFigures).where(MemberFigures.merchant_id.in_(ids)))
    db.session.execute(sa.delete(FiguresWindow).where(FiguresWindow.merchant_id.in_(ids)))
