"""The on-site agent's side of the server: the store snapshot it keeps (menu, tables, tiers, staff,
members with their signed offline allowance) and the sync of what its till did.

A sync batch (`tablerules.sync.SyncBatch`) is applied operation by operation, each in its own
transaction and at most once (`app.idempotency.run_once` on the operation's key), through the
same services as online requests: `kitchen.create_order` and `settlement.settle_order`, with
the till's staff and device as the actor and the time the sale happened as `now`. A replayed
batch answers exactly as the first time and changes nothing.

What a till did offline is honoured as it was made: the prices it showed, dishes sold out since,
the member's tier discount as it knew it. What differs from the server's own view is flagged
for the manager (`SyncFlag`). An offline stored-value tender must come with the allowance the
server signed; when the member's balance can no longer cover it, the shortfall is advanced onto
the card (a ledger entry, never a negative balance) and recorded as a `MemberDebt` to resolve.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext
from sqlalchemy.orm import selectinload

from app.actor import Actor
from app.auth.models import Device, Staff
from app.auth.permissions import Role
from app.db import begin_write, db
from app.errors import APIError, Conflict, NotFound, Unprocessable
from app.events.service import printed_at_source
from app.idempotency import IdempotencyRecord, fingerprint, run_once
from app.members import service as members
from app.members.ledger import Move, Refs, lock_member, post
from app.members.models import Account, EntryKind, LedgerEntry, Member, MemberCard, Tier
from app.menu import service as menu
from app.menu.models import Dish
from app.menu.search import dish_keys
from app.orders import kitchen, settlement
from app.orders.access import lock_order
from app.orders.kitchen import ItemRequest
from app.orders.models import Order
from app.orders.settlement import HonouredTerms, SettleRequest, TenderRequest
from app.orders.state import OrderStatus
from app.sync.models import AgentSyncState, FlagKind, MemberDebt, SyncFlag
from app.tables.models import DiningTable
from app.tenants.models import Store
from tablerules import sync as contract
from tablerules.tenders import TenderType

MEMBER_PAGE_MAX = 1000


# --- the offline allowance -----------------------------------------------------------------------

def allowance_secret() -> bytes:
    """The key allowances are signed with, derived from the server's SECRET_KEY (never sent out)."""
    secret = (current_app.config.get("SECRET_KEY") or "").encode()
    return hmac.new(secret, b"tableloop offline allowance v1", hashlib.sha256).digest()


def allowance_for(member: Member, store: Store, now: datetime) -> contract.Allowance:
    balance = member.stored_value_cents
    return contract.Allowance(
        member_id=member.id, store_id=store.id,
        allowance_cents=contract.allowance_cents(store.offline_allowance_cents, balance),
        balance_cents=balance, issued_at=now.astimezone(UTC).isoformat(timespec="seconds"),
    ).signed(allowance_secret())


# --- the snapshot -------------------------------------------------------------------------------

def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def _search_keys(name: str) -> dict:
    keys = dish_keys(name)  # the till finds dishes by them (tablerules.dish_search)
    return {"pinyin": keys.pinyin, "initials": keys.initials}


def snapshot_base(store: Store, now: datetime) -> dict:
    """Everything but the members: store, menu with sold-out flags, tables, tiers and rules, staff."""
    settings = members.settings_for(store.merchant_id)
    dishes = []
    for section in menu.store_menu(store, include_inactive=True):
        for dish in section.dishes:
            dishes.append({
                "id": dish.id, "name": dish.name, "name_en": dish.name_en, "price_cents": dish.price_cents,
                "category": section.name, "category_id": section.id, "station": dish.station, "unit": dish.unit,
                "is_discountable": dish.is_discountable, "is_active": dish.is_active,
                "is_sold_out": dish.is_sold_out, **_search_keys(dish.name),
                "options": [{"id": group.id, "name": group.name, "is_required": group.is_required,
                             "max_choices": group.max_choices,
                             "choices": [{"id": c.id, "name": c.name, "price_delta_cents": c.price_delta_cents}
                                         for c in group.choices]} for group in dish.option_groups]})
    tables = db.session.scalars(sa.select(DiningTable).where(
        DiningTable.store_id == store.id, DiningTable.merchant_id == store.merchant_id).order_by(DiningTable.code))
    tiers = members.tiers_of(store.merchant_id)
    staff = db.session.scalars(sa.select(Staff).where(
        Staff.merchant_id == store.merchant_id,
        sa.or_(Staff.store_id == store.id, Staff.role.in_([Role.OWNER, Role.MANAGER]))).order_by(Staff.id))
    return {
        "as_of": _iso(now),
        "store": {"id": store.id, "name": store.name, "address": store.address, "phone": store.phone,
                  "rounding": store.rounding, "offline_allowance_cents": store.offline_allowance_cents},
        "dishes": dishes,
        "tables": [{"code": t.code, "seats": t.seats, "is_active": t.is_active,
                    "area": t.area.name if t.area else ""} for t in tables],
        "tiers": [{"id": t.id, "name": t.name, "rank": t.rank, "discount_percent": t.discount_percent,
                   "points_multiplier_percent": t.points_multiplier_percent} for t in tiers],
        "rules": {"points_per_yuan": settings.points_per_yuan, "earning_tenders": list(settings.earning_tenders),
                  "cents_per_point": settings.cents_per_point,
                  "max_points_share_percent": settings.max_points_share_percent},
        # Credential hashes let staff who logged in at this till before log in while it is offline.
        "staff": [{"id": s.id, "username": s.username, "name": s.display_name or s.username, "role": s.role.label,
                   "store_id": s.store_id, "is_active": s.is_active, "password_hash": s.password_hash}
                  for s in staff],
    }


def snapshot_members(store: Store, *, since: datetime | None, after_id: int, limit: int, now: datetime) -> dict:
    """One page of members (id order, after `after_id`): all of them, or with `since` only those
    whose balance, points, tier, cards, phone, name or number changed since then. Each carries the offline allowance
    signed for this store."""
    limit = max(1, min(limit, MEMBER_PAGE_MAX))
    query = (sa.select(Member).where(Member.merchant_id == store.merchant_id, Member.id > after_id)
             .options(selectinload(Member.tier), selectinload(Member.cards)).order_by(Member.id).limit(limit))
    if since is not None:
        changed = sa.or_(
            Member.created_at >= since,
            Member.tier_changed_at >= since,
            Member.profile_changed_at >= since,
            Member.id.in_(sa.select(LedgerEntry.member_id).where(LedgerEntry.merchant_id == store.merchant_id,
                                                                 LedgerEntry.created_at >= since)),
            Member.id.in_(sa.select(MemberCard.member_id).where(MemberCard.merchant_id == store.merchant_id,
                                                                sa.or_(MemberCard.created_at >= since,
                                                                       MemberCard.status_changed_at >= since))))
        query = query.where(changed)
    rows = list(db.session.scalars(query))
    return {
        "as_of": _iso(now),
        "members": [member_json(m, store, now) for m in rows],
        "next_after": rows[-1].id if len(rows) == limit else None,
    }


def member_json(member: Member, store: Store, now: datetime) -> dict:
    tier: Tier = member.tier
    return {"id": member.id, "member_no": member.member_no, "phone": member.phone, "name": member.name,
            "tier": {"id": tier.id, "name": tier.name, "discount_percent": tier.discount_percent,
                     "points_multiplier_percent": tier.points_multiplier_percent},
            "stored_value_cents": member.stored_value_cents, "points": member.points,
            "cards": [c.card_no for c in member.cards if c.status.name == "ACTIVE"],
            "allowance": allowance_for(member, store, now).to_dict()}


# --- the sync ------------------------------------------------------------------------------------

def _record_key(kind: str, key: str, device: Device) -> str:
    return f"sync-{kind}:{device.id}:" + hashlib.sha256(key.encode()).hexdigest()[:40]


def _op_fingerprint(op: contract.SyncOperation) -> dict:
    """What makes an operation itself: the same key with a different body is a reused key.
    Whether the paper was printed and what the till showed do not count (an online forward whose
    answer was lost comes again from the outbox with the same key)."""
    return {"op": op.op, "client_order_id": op.client_order_id, "idempotency_key": op.idempotency_key,
            "member_id": op.member_id, "items": [i.to_dict() for i in op.items],
            "tenders": [{"type": t.type, "amount_cents": t.amount_cents} for t in op.tenders]}


def apply_batch(batch: contract.SyncBatch, device: Device, now: datetime) -> dict:
    """Apply a batch once (each operation in its own transaction) and answer `SyncResult`; a
    batch already applied answers what it answered then. Commits."""
    merchant_id = device.merchant_id
    batch_key = _record_key("batch", batch.batch_key, device)
    payload = {"batch_key": batch.batch_key, "operations": [o.key for o in batch.operations]}
    done = db.session.scalar(sa.select(IdempotencyRecord).where(
        IdempotencyRecord.merchant_id == merchant_id, IdempotencyRecord.key == batch_key))
    if done is not None and done.status_code is not None and done.fingerprint == fingerprint("sync_batch", payload):
        return done.response or {}
    # A batch key sent again with other operations is answered operation by operation: each
    # operation's own key still applies it at most once.
    results = [apply_operation(op, device, now) for op in batch.operations]
    begin_write()
    device = db.session.get(Device, device.id)
    device.last_seen_at = now
    body = contract.SyncResult(batch.batch_key, tuple(contract.OperationResult.from_dict(r) for r in results))
    if done is not None:
        db.session.commit()
        return body.to_dict()
    answer, _status = run_once(merchant_id, batch_key, "sync_batch", payload, lambda: (body.to_dict(), 200))
    return answer


def apply_operation(op: contract.SyncOperation, device: Device, now: datetime) -> dict:
    """One operation, once: its answer (`OperationResult` as a dict) is kept under its key. An
    operation that cannot be applied is answered ``refused`` — also kept, and flagged."""
    merchant_id = device.merchant_id
    key = _record_key("op", op.key, device)
    payload = _op_fingerprint(op)
    begin_write()  # each operation is a write transaction of its own
    try:
        body, _ = run_once(merchant_id, key, "sync_op", payload, lambda: (_apply(op, device).to_dict(), 200))
        return body
    except APIError as error:
        db.session.rollback()
        failure = _error_json(error)
        if error.error_code == "idempotency_key_reused" or not op.printed_at_source:
            # An online forward the server refuses is the till's answer (a dish sold out): nothing
            # happened at the till, so nothing is kept and the till may try again.
            return contract.OperationResult(op.key, "refused", error=failure).to_dict()

    begin_write()

    def refuse() -> tuple[dict, int]:
        db.session.add(SyncFlag(merchant_id=merchant_id, store_id=device.store_id, device_id=device.id,
                                order_id=None, op_key=op.key, kind=FlagKind.REFUSED,
                                details={"error": failure, "operation": op.to_dict()}))
        return contract.OperationResult(op.key, "refused", error=failure).to_dict(), 200

    body, _ = run_once(merchant_id, key, "sync_op", payload, refuse)
    return body


def _error_json(error: APIError) -> dict:
    return {"code": error.error_code, "message": error.description or "", "details": error.details or {},
            "status": error.code or 400}


def _when(op: contract.SyncOperation) -> datetime:
    return datetime.fromisoformat(op.occurred_at).astimezone(UTC)


def till_actor(staff_id: int | None, device: Device) -> Actor:
    """The staff member who worked the till (of this merchant, working at this store) and the
    device the sale came through."""
    name = device.name
    if staff_id is not None:
        staff = db.session.get(Staff, staff_id)
        if staff is None or staff.merchant_id != device.merchant_id or staff.store_id not in (None, device.store_id):
            raise Unprocessable(gettext("This staff member does not work at this store."), error_code="unknown_staff",
                                details={"staff_id": staff_id})
        name = staff.display_name or staff.username
    return Actor(merchant_id=device.merchant_id, staff_id=staff_id, device_id=device.id,
                 store_id=device.store_id, name=name)


def order_by_client_id(store_id: int, client_order_id: str) -> Order | None:
    return db.session.scalar(sa.select(Order).where(Order.store_id == store_id,
                                                    Order.client_order_id == client_order_id))


def order_json(order: Order) -> dict:
    """The order as `GET /api/v1/orders` shows it, with the flags its sync left."""
    bill = order.charged_bill
    body = {
        "id": order.id, "store_id": order.store_id, "client_order_id": order.client_order_id,
        "order_no": str(order.id), "table": order.table_code, "status": order.status.label,
        "member_id": order.member_id, "subtotal_cents": order.subtotal_cents, "discount_cents": order.discount_cents,
        "payable_cents": order.payable_cents, "paid_cents": order.paid_cents, "change_cents": order.change_cents,
        "items": [{"id": line.id, "dish_id": line.dish_id, "name": line.name, "qty": line.qty,
                   "unit_price_cents": line.unit_price_cents, "amount_cents": line.amount_cents,
                   "station": line.station, "note": line.note, "status": line.status.label,
                   "options": list(line.options or [])} for line in order.lines],
        "tenders": [t.to_dict() for t in bill.tenders] if bill else [],
        "created_at": _iso(order.created_at), "paid_at": _iso(order.paid_at),
    }
    body["sync_flags"] = [{"kind": f.kind.label, "details": f.details} for f in db.session.scalars(
        sa.select(SyncFlag).where(SyncFlag.order_id == order.id).order_by(SyncFlag.id))]
    return body


def _apply(op: contract.SyncOperation, device: Device) -> contract.OperationResult:
    store = db.session.get(Store, device.store_id)
    actor = till_actor(op.staff_id, device)
    now = _when(op)
    if any(t.type == TenderType.WECHAT.label for t in op.tenders):
        raise Unprocessable(gettext("WeChat Pay is settled through the order's settle call, not a sync."),
                            error_code="tender_not_supported")
    flags: list[tuple[FlagKind, dict]] = []
    status = "duplicate"
    marked = printed_at_source(device.id) if op.printed_at_source else nullcontext()
    with marked:
        order = order_by_client_id(store.id, op.client_order_id)
        if op.opens_order and order is None:
            if op.printed_at_source:
                flags += _menu_flags(store, op)
            order = _create(store, op, actor, now)
            status = "applied"
        if order is None:
            raise NotFound("order", gettext("The order of this settlement is not on the server."))
        if op.adds_items:
            if op.printed_at_source:
                flags += _menu_flags(store, op)
            _add(order, op, actor, now)
            status = "applied"
        if op.settles and order.status is OrderStatus.OPEN:
            flags += _settle(order, op, actor, now)
            status = "applied"
        db.session.flush()
    for kind, details in flags:
        db.session.add(SyncFlag(merchant_id=store.merchant_id, store_id=store.id, device_id=device.id,
                                order_id=order.id, op_key=op.key, kind=kind, details=details))
    db.session.flush()
    return contract.OperationResult(op.key, status, order=order_json(order),
                                    flags=tuple(kind.label for kind, _ in flags))


def _items(op: contract.SyncOperation) -> list[ItemRequest]:
    prices = {}
    if op.priced is not None and op.printed_at_source:
        prices = {(line.dish_id, i): line.unit_price_cents for i, line in enumerate(op.priced.lines)}
    return [ItemRequest(item.dish_id, item.qty, tuple(item.option_ids), item.note,
                        till_unit_price_cents=prices.get((item.dish_id, i)))
            for i, item in enumerate(op.items)]


def _menu_flags(store: Store, op: contract.SyncOperation) -> list[tuple[FlagKind, dict]]:
    """Dishes the server would price differently or not sell now."""
    ids = {item.dish_id for item in op.items}
    dishes = {d.id: d for d in db.session.scalars(sa.select(Dish).where(Dish.id.in_(ids),
                                                                        Dish.merchant_id == store.merchant_id))}
    sold_out = menu.sold_out_dish_ids(store.id) & ids
    flags = []
    gone = sorted(i for i in ids if i in sold_out or (i in dishes and not dishes[i].is_active))
    if gone:
        flags.append((FlagKind.SOLD_OUT, {"dish_ids": gone}))
    if op.priced is not None:
        changed = []
        for item, line in zip(op.items, op.priced.lines, strict=False):
            dish = dishes.get(item.dish_id)
            if dish is not None and not item.option_ids and dish.price_cents != line.unit_price_cents:
                changed.append({"dish_id": dish.id, "name": dish.name, "till_cents": line.unit_price_cents,
                                "server_cents": dish.price_cents})
        if changed:
            flags.append((FlagKind.PRICE_CHANGED, {"lines": changed}))
    return flags


def _create(store: Store, op: contract.SyncOperation, actor: Actor, now: datetime) -> Order:
    items = _items(op)
    if not op.printed_at_source:  # an online sale: exactly as POST /orders would take it
        return kitchen.create_order(store, table_code=op.table or None, items=items, key=None, actor=actor,
                                    now=now, client_order_id=op.client_order_id)
    if op.table:
        savepoint = db.session.begin_nested()
        try:
            order = kitchen.create_order(store, table_code=op.table, items=items, key=None, actor=actor, now=now,
                                         client_order_id=op.client_order_id, honour_till=True)
            savepoint.commit()
            return order
        except APIError as error:
            # The table is gone or busy on the server: the sale stands, at the counter.
            savepoint.rollback()
            if error.error_code not in ("unknown_table", "table_state_conflict"):
                raise
    order = kitchen.create_order(store, table_code=None, items=items, key=None, actor=actor, now=now,
                                 client_order_id=op.client_order_id, honour_till=True)
    order.table_code = op.table[:10]
    return order


def _add(order: Order, op: contract.SyncOperation, actor: Actor, now: datetime) -> None:
    """加菜 a till made offline on an order only it had then: the lines at the prices it showed;
    their kitchen ticket (marked 加菜) was printed at the till."""
    order = lock_order(order.id, actor)
    kitchen.add_items(order, _items(op), actor=actor, confirm=True, now=now, honour_till=op.printed_at_source)


def _check_allowance(op: contract.SyncOperation, store: Store, stored_value: int) -> None:
    allowance = op.allowance
    ok = (allowance is not None and allowance.verify(allowance_secret()) and allowance.member_id == op.member_id
          and allowance.store_id == store.id and stored_value <= allowance.allowance_cents)
    if not ok:
        raise Conflict(gettext("This offline stored-value payment was not within an allowance the server granted."),
                       error_code="offline_allowance_invalid",
                       details={"member_id": op.member_id, "stored_value_cents": stored_value})


def _settle(order: Order, op: contract.SyncOperation, actor: Actor, now: datetime) -> list[tuple[FlagKind, dict]]:
    store = db.session.get(Store, order.store_id)
    order = lock_order(order.id, actor)  # the order before the member: the one lock order
    member = lock_member(op.member_id, actor=actor) if op.member_id is not None else None
    stored_value = sum(t.amount_cents for t in op.tenders if t.type == TenderType.STORED_VALUE.label)
    flags: list[tuple[FlagKind, dict]] = []
    if stored_value and op.printed_at_source:
        _check_allowance(op, store, stored_value)
    honoured = None
    if op.priced is not None and op.printed_at_source:
        honoured = HonouredTerms(op.priced.tier_name, op.priced.tier_discount_percent, op.priced.rounding)
        own = settlement.price_order(order, member=member, points=0, coupon_ids=(), now=now, store=store)
        if op.priced.payable_cents is not None and own.payable_cents != op.priced.payable_cents:
            flags.append((FlagKind.PAYABLE_CHANGED, {"till_cents": op.priced.payable_cents,
                                                     "server_cents": own.payable_cents}))
    if member is not None and stored_value > member.stored_value_cents:
        shortfall = stored_value - member.stored_value_cents
        _advance(member, order, op, shortfall, actor)
        flags.append((FlagKind.MEMBER_DEBT, {"member_id": member.id, "amount_cents": shortfall}))
    request = SettleRequest(member_id=op.member_id,
                            tenders=[TenderRequest(t.type, t.amount_cents) for t in op.tenders], honoured=honoured)
    settlement.settle_order(order.id, request, actor=actor, key=op.idempotency_key, now=now)
    return flags


def _advance(member: Member, order: Order, op: contract.SyncOperation, shortfall: int, actor: Actor) -> None:
    """The part of an offline stored-value tender the balance cannot cover: advanced onto the
    card so the sale settles as it was made, and owed by the member (a debt to resolve)."""
    post(member, f"sync-advance:{op.idempotency_key}",
         [Move(Account.PRINCIPAL, EntryKind.ADJUST, shortfall, note="离线储值透支 offline stored value over balance")],
         Refs(order_id=order.id, store_id=order.store_id), actor=actor)
    db.session.add(MemberDebt(merchant_id=member.merchant_id, member_id=member.id, store_id=order.store_id,
                              order_id=order.id, device_id=actor.device_id, op_key=op.key, amount_cents=shortfall))


# --- what the manager sees -------------------------------------------------------------------------

def flag_json(flag: SyncFlag) -> dict:
    return {"id": flag.id, "store_id": flag.store_id, "device_id": flag.device_id, "order_id": flag.order_id,
            "op_key": flag.op_key, "kind": flag.kind.label, "details": flag.details,
            "created_at": _iso(flag.created_at), "resolved_at": _iso(flag.resolved_at)}


def debt_json(debt: MemberDebt) -> dict:
    return {"id": debt.id, "member_id": debt.member_id, "store_id": debt.store_id, "order_id": debt.order_id,
            "amount_cents": debt.amount_cents, "status": debt.status.label, "created_at": _iso(debt.created_at),
            "resolved_at": _iso(debt.resolved_at)}


def list_flags(merchant_id: int, *, store_id: int | None, open_only: bool, limit: int,
               before_id: int | None = None) -> Sequence[SyncFlag]:
    query = sa.select(SyncFlag).where(SyncFlag.merchant_id == merchant_id).order_by(SyncFlag.id.desc()).limit(limit)
    if store_id is not None:
        query = query.where(SyncFlag.store_id == store_id)
    if open_only:
        query = query.where(SyncFlag.resolved_at.is_(None))
    if before_id is not None:
        query = query.where(SyncFlag.id < before_id)
    return list(db.session.scalars(query))


def list_debts(merchant_id: int, *, member_id: int | None, limit: int,
               before_id: int | None = None) -> Sequence[MemberDebt]:
    query = sa.select(MemberDebt).where(MemberDebt.merchant_id == merchant_id).order_by(MemberDebt.id.desc())
    if member_id is not None:
        query = query.where(MemberDebt.member_id == member_id)
    if before_id is not None:
        query = query.where(MemberDebt.id < before_id)
    return list(db.session.scalars(query.limit(limit)))


# --- the agents' own report ---------------------------------------------------------------------

def report_state(device: Device, *, outbox_pending: int, oldest_unsynced_at: datetime | None,
                 last_synced_at: datetime | None, now: datetime) -> AgentSyncState:
    """An agent says how many sales wait in its outbox; it is seen now."""
    device = db.session.get(Device, device.id)
    device.last_seen_at = now
    state = db.session.get(AgentSyncState, device.id)
    if state is None:
        state = AgentSyncState(device_id=device.id, merchant_id=device.merchant_id, store_id=device.store_id,
                               reported_at=now)
        db.session.add(state)
    state.outbox_pending, state.oldest_unsynced_at = outbox_pending, oldest_unsynced_at
    state.last_synced_at, state.reported_at = last_synced_at, now
    return state


def agents_json(merchant_id: int, store_id: int | None) -> list[dict]:
    """Each store's agents: when last seen, and what their outbox holds as they last said."""
    query = (sa.select(Device, AgentSyncState).outerjoin(AgentSyncState, AgentSyncState.device_id == Device.id)
             .where(Device.merchant_id == merchant_id, Device.revoked_at.is_(None)).order_by(Device.id))
    if store_id is not None:
        query = query.where(Device.store_id == store_id)
    return [{"device_id": device.id, "store_id": device.store_id, "name": device.name,
             "last_seen_at": _iso(device.last_seen_at),
             "outbox_pending": state.outbox_pending if state else None,
             "oldest_unsynced_at": _iso(state.oldest_unsynced_at) if state else None,
             "last_synced_at": _iso(state.last_synced_at) if state else None}
            for device, state in db.session.execute(query)]
