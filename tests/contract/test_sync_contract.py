"""The sync payloads on both ends: what the agent pushes (`tablerules.sync`) is what the server
reads, what the server answers is what the agent reads, and the events a synced sale leaves
on the store log still parse with the document contract, marked as printed at the till."""

from __future__ import annotations

import json
import uuid

from pos_agent.local.db import LocalDB
from pos_agent.local.outbox import Outbox
from tablerules import sync
from tablerules.documents import SaleItem, StoreEvent, TenderLine
from tests.factories import create_dish, create_member


def _ops(dish_id: int, member_id: int, allowance: dict) -> list[sync.SyncOperation]:
    order_id, sale_id = str(uuid.uuid4()), str(uuid.uuid4())
    priced = sync.Priced(lines=(sync.PricedLine(dish_id, 2, 1_000, "蛋炒饭"),), subtotal_cents=2_000,
                         payable_cents=2_000)
    now = "2026-11-29T04:30:00+00:00"
    return [
        sync.SyncOperation(op="order", key=f"order:{order_id}", client_order_id=order_id, occurred_at=now,
                           order_no="L0001", items=(SaleItem(dish_id, 2, (), "少辣"),), priced=priced,
                           printed_at_source=True),
        sync.SyncOperation(op="settle", key=f"settle:{order_id}", client_order_id=order_id, occurred_at=now,
                           member_id=member_id, tenders=(TenderLine("stored_value", 2_000),),
                           idempotency_key=f"pay-{order_id}", priced=priced,
                           allowance=sync.Allowance.from_dict(allowance), printed_at_source=True),
        sync.SyncOperation(op="sale", key=f"sale:{sale_id}", client_order_id=sale_id, occurred_at=now,
                           items=(SaleItem(dish_id, 1),), tenders=(TenderLine("cash", 5_000),),
                           idempotency_key=f"pay-{sale_id}", printed_at_source=True),
    ]


def test_sync_payloads_parse_on_both_ends(make, db, tmp_path):
    tenant = make.tenant()
    dish = create_dish(make, tenant, "蛋炒饭", 1_000)
    member = create_member(make, tenant)
    make.api(tenant.owner).post(f"/members/{member['id']}/topups", json={
        "amount_cents": 5_000, "tender": "cash", "idempotency_key": uuid.uuid4().hex})
    device, token = make.device(tenant)
    api = make.api(token=token)
    snapshot = api.get(f"/stores/{tenant.store.id}/snapshot?part=members").get_json()
    allowance = snapshot["members"][0]["allowance"]
    assert sync.Allowance.from_dict(allowance).allowance_cents == 5_000

    # The agent's outbox keeps them as JSON and reads them back into the same batch.
    outbox = Outbox(LocalDB(tmp_path / "local.sqlite3"))
    ops = _ops(dish["id"], member["id"], allowance)
    with outbox.db.transaction() as conn:
        for op in ops:
            Outbox.add(conn, op, member_id=op.member_id, stored_value_cents=0, now=op.occurred_at)
    batch = outbox.next_batch()
    assert batch.operations == tuple(ops)
    wire = json.loads(json.dumps(batch.to_dict()))
    assert sync.SyncBatch.from_dict(wire) == batch  # what the server's route reads

    response = api.post("/sync/batches", json=wire)
    assert response.status_code == 200, response.get_json()
    result = sync.SyncResult.from_dict(response.get_json())  # what the agent's pusher reads
    assert result.batch_key == batch.batch_key
    assert [r.status for r in result.results] == ["applied", "applied", "applied"]
    for r in result.results:
        for name in ("id", "client_order_id", "order_no", "status", "items", "payable_cents", "paid_cents",
                     "change_cents", "member_id", "tenders"):
            assert name in r.order
    assert outbox.record(result, "2026-11-29T04:31:00+00:00") == list(ops)
    assert outbox.pending_ops() == 0

    events = api.get(f"/stores/{tenant.store.id}/events").get_json()["events"]
    printed = [StoreEvent.from_dict(e) for e in events if e["kind"] in ("ticket_new", "print_job")]
    assert len(printed) == 4  # a ticket and a receipt for each of the two orders
    for event in printed:
        assert event.document() is not None
        assert sync.printed_at_source(event.payload) and event.payload["source_device_id"] == device.id


def test_a_bad_operation_names_its_field():
    good = {"op": "sale", "key": "sale-00000001", "client_order_id": str(uuid.uuid4()),
            "occurred_at": "2026-11-29T12:00:00+08:00", "items": [{"dish_id": 1, "qty": 1}],
            "tenders": [{"type": "cash", "amount_cents": 100}], "idempotency_key": "pay-00000001"}
    assert sync.SyncOperation.from_dict(good).settles
    for change, field in [({"occurred_at": "2026-11-29T12:00:00"}, "occurred_at"),
                          ({"op": "refund"}, "op"),
                          ({"tenders": [{"type": "bitcoin", "amount_cents": 1}]}, "tenders[0].type"),
                          ({"items": []}, "items")]:
        try:
            sync.SyncOperation.from_dict({**good, **change})
        except Exception as exc:
            assert getattr(exc, "field", None) == field, exc
        else:
            raise AssertionError(change)


def test_allowance_signature():
    allowance = sync.Allowance(7, 1, 20_000, 35_000, "2026-11-29T04:00:00+00:00").signed(b"k" * 32)
    assert allowance.verify(b"k" * 32)
    assert not allowance.verify(b"x" * 32)
    forged = sync.Allowance.from_dict({**allowance.to_dict(), "allowance_cents": 30_000})
    assert not forged.verify(b"k" * 32)
    assert sync.allowance_cents(20_000, 5_000) == 5_000 and sync.allowance_cents(20_000, 50_000) == 20_000
