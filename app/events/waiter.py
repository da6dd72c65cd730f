"""Waiter calls on the staff screens: the diners' ``waiter_called`` events of the store log that
no one has acknowledged yet, and the acknowledgement (recorded once, announced as
``waiter_acked`` so every other screen takes the call down too)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from app.actor import Actor
from app.db import db, insert_unique
from app.errors import NotFound
from app.events.models import EventKind, StoreEvent, WaiterCallAck
from app.events.service import append, last_seq

OPEN_FOR = timedelta(hours=4)  # a call older than this is no longer shown
LOOK_BACK = 5_000  # newest events of the store searched for calls


def call_json(event: StoreEvent) -> dict:
    payload = event.payload if isinstance(event.payload, dict) else {}
    return {"seq": event.seq, "table": str(payload.get("table", "")), "table_id": payload.get("table_id"),
            "diner": str(payload.get("diner", "")), "at": str(payload.get("at") or event.created_at.isoformat())}


def open_calls(store_id: int, *, now: datetime) -> list[dict]:
    """The store's waiter calls of the last hours that nobody acknowledged, oldest first."""
    head = last_seq(store_id)
    calls = db.session.scalars(sa.select(StoreEvent).where(
        StoreEvent.store_id == store_id, StoreEvent.seq > head - LOOK_BACK,
        StoreEvent.kind == EventKind.WAITER_CALLED, StoreEvent.created_at >= now - OPEN_FOR)
        .order_by(StoreEvent.seq)).all()
    if not calls:
        return []
    acked = set(db.session.scalars(sa.select(WaiterCallAck.call_seq).where(
        WaiterCallAck.store_id == store_id, WaiterCallAck.call_seq >= calls[0].seq)))
    return [call_json(call) for call in calls if call.seq not in acked]


def acknowledge(store_id: int, call_seq: int, *, actor: Actor, now: datetime) -> WaiterCallAck:
    """Staff saw the call `call_seq` of the store. Acknowledging it again (another screen, a
    repeated press) answers the first acknowledgement and announces nothing new."""
    call = db.session.scalar(sa.select(StoreEvent).where(
        StoreEvent.store_id == store_id, StoreEvent.seq == call_seq, StoreEvent.kind == EventKind.WAITER_CALLED,
        StoreEvent.merchant_id == actor.merchant_id))
    if call is None:
        raise NotFound("waiter_call")
    found = call_json(call)
    ack = WaiterCallAck(merchant_id=actor.merchant_id, store_id=store_id, call_seq=call_seq,
                        table_code=found["table"][:10], acked_by_id=actor.staff_id, acked_by=actor.name[:60],
                        acked_at=now)
    if not insert_unique(ack):
        return db.session.scalars(sa.select(WaiterCallAck).where(
            WaiterCallAck.store_id == store_id, WaiterCallAck.call_seq == call_seq)).one()
    append(actor.merchant_id, store_id, EventKind.WAITER_ACKED,
           {"call_seq": call_seq, "table": found["table"], "table_id": found["table_id"],
            "acked_by": ack.acked_by, "at": now.isoformat()})
    return ack


def ack_json(ack: WaiterCallAck) -> dict:
    return {"call_seq": ack.call_seq, "table": ack.table_code, "acked_by": ack.acked_by,
            "acked_at": ack.acked_at.isoformat()}
