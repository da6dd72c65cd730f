"""The server's side of the on-site agent: snapshot, signed offline allowances and the sync of
what the till did (exactly once, honoured as it was made, flagged for the manager)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from app.db import utcnow
from app.events.models import EventKind, StoreEvent
from app.members.models import LedgerEntry, Member, Tier
from app.orders.models import Order, Payment
from app.sync.models import MemberDebt, SyncFlag
from tests.factories import create_dish, create_member

NOW = "2026-11-29T12:30:00+08:00"


def _setup(make):
    tenant = make.tenant()
    owner = make.api(tenant.owner)
    device, token = make.device(tenant)
    cashier = make.staff(tenant, "cashier")
    dish = create_dish(make, tenant, "蛋炒饭", 1_000)
    return tenant, owner, make.api(token=token), device, cashier, dish


def _sale(dish, cashier, *, tenders, member_id=None, unit=1_000, qty=2, payable=None, allowance=None, printed=True,
          client_order_id=None, key=None):
    cid = client_order_id or str(uuid.uuid4())
    subtotal = unit * qty
    op = {"op": "sale", "key": key or f"sale-{cid}", "client_order_id": cid, "occurred_at": NOW,
          "staff_id": cashier.id, "items": [{"dish_id": dish["id"], "qty": qty}], "tenders": tenders,
          "idempotency_key": f"settle-{cid}", "printed_at_source": printed,
          "priced": {"lines": [{"dish_id": dish["id"], "qty": qty, "unit_price_cents": unit}],
                     "subtotal_cents": subtotal, "payable_cents": payable if payable is not None else subtotal}}
    if member_id is not None:
        op["member_id"] = member_id
    if allowance is not None:
        op["allowance"] = allowance
    return op


def _push(device_api, *ops, batch_key=None):
    response = device_api.post("/sync/batches", json={"batch_key": batch_key or uuid.uuid4().hex,
                                                      "operations": list(ops)})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _count(db, model, *where):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_a_replayed_batch_changes_nothing_and_answers_the_same(make, db):
    tenant, owner, device_api, device, cashier, dish = _setup(make)
    op = _sale(dish, cashier, tenders=[{"type": "cash", "amount_cents": 5_000}])
    first = _push(device_api, op, batch_key="batch-000001")
    assert first["results"][0]["status"] == "applied"
    order = first["results"][0]["order"]
    assert order["status"] == "paid" and order["payable_cents"] == 2_000 and order["change_cents"] == 3_000
    again = _push(device_api, op, batch_key="batch-000001")
    assert again == first
    # The same operation in another batch (the agent retried after a lost answer): the same answer.
    assert _push(device_api, op, batch_key="batch-000002")["results"][0] == first["results"][0]
    assert _count(db, Order) == 1 and _count(db, Payment) == 1
    # On the server the order keeps the till's id.
    found = owner.get(f"/orders?store_id={tenant.store.id}&client_order_id={op['client_order_id']}").get_json()
    assert [o["id"] for o in found["orders"]] == [order["id"]]
    assert found["orders"][0]["tenders"] == [{"type": "cash", "amount_cents": 5_000}]
    assert found["orders"][0]["client_order_id"] == op["client_order_id"]
    # What the till already printed is marked so the event-log follower skips it.
    events = db.session.scalars(sa.select(StoreEvent).where(StoreEvent.kind.in_(
        [EventKind.TICKET_NEW, EventKind.PRINT_JOB]))).all()
    assert len(events) == 2
    assert all(e.payload["printed_at_source"] is True and e.payload["source_device_id"] == device.id for e in events)


def test_an_online_forward_is_not_marked_printed(make, db):
    _tenant, _owner, device_api, _device, cashier, dish = _setup(make)
    _push(device_api, _sale(dish, cashier, tenders=[{"type": "cash", "amount_cents": 2_000}], printed=False))
    events = db.session.scalars(sa.select(StoreEvent)).all()
    assert events and not any("printed_at_source" in e.payload for e in events)


def test_a_price_changed_meanwhile_is_honoured_and_flagged(make, db):
    tenant, owner, device_api, _device, cashier, dish = _setup(make)
    owner.patch(f"/menu/dishes/{dish['id']}", json={"price_cents": 1_500})
    owner.request("PUT", f"/stores/{tenant.store.id}/sold-out/{dish['id']}", json={"is_sold_out": True})
    result = _push(device_api, _sale(dish, cashier, tenders=[{"type": "cash", "amount_cents": 2_000}]))["results"][0]
    assert result["status"] == "applied"
    assert sorted(result["flags"]) == ["price_changed", "sold_out"]
    assert result["order"]["payable_cents"] == 2_000  # the till's price
    flags = owner.get(f"/sync/flags?store_id={tenant.store.id}").get_json()["flags"]
    assert sorted(f["kind"] for f in flags) == ["price_changed", "sold_out"]
    assert {f["order_id"] for f in flags} == {result["order"]["id"]}


def test_stored_value_the_balance_no_longer_covers_becomes_a_debt(make, db):
    tenant, owner, device_api, _device, cashier, dish = _setup(make)
    member = create_member(make, tenant)
    owner.post(f"/members/{member['id']}/topups", json={"amount_cents": 3_000, "tender": "cash",
                                                        "idempotency_key": uuid.uuid4().hex})
    snapshot = device_api.get(f"/stores/{tenant.store.id}/snapshot?part=members").get_json()
    allowance = next(m["allowance"] for m in snapshot["members"] if m["id"] == member["id"])
    assert allowance["allowance_cents"] == 3_000  # min(store setting 20000, balance)
    # Meanwhile the member spends most of it elsewhere.
    owner.post(f"/members/{member['id']}/cashouts", json={"amount_cents": 2_500, "reason": "退卡部分",
                                                          "idempotency_key": uuid.uuid4().hex})
    op = _sale(dish, cashier, member_id=member["id"], allowance=allowance,
               tenders=[{"type": "stored_value", "amount_cents": 2_000}])
    result = _push(device_api, op)["results"][0]
    assert result["status"] == "applied" and "member_debt" in result["flags"]
    db.session.expire_all()
    fresh = db.session.get(Member, member["id"])
    assert fresh.stored_value_cents == 0
    debts = owner.get(f"/member-debts?member_id={member['id']}").get_json()["debts"]
    assert [(d["amount_cents"], d["status"]) for d in debts] == [(1_500, "open")]
    for account in (1, 2, 3):
        total = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.delta), 0)).where(
            LedgerEntry.member_id == member["id"], LedgerEntry.account == account))
        assert total == fresh.balance(__import__("app.members.models", fromlist=["Account"]).Account(account))
    assert fresh.points > 0  # points earned by the same rule when the sale synced
    assert _count(db, MemberDebt) == 1


def test_a_forged_allowance_is_refused_and_flagged(make, db):
    tenant, owner, device_api, _device, cashier, dish = _setup(make)
    member = create_member(make, tenant)
    owner.post(f"/members/{member['id']}/topups", json={"amount_cents": 1_000, "tender": "cash",
                                                        "idempotency_key": uuid.uuid4().hex})
    snapshot = device_api.get(f"/stores/{tenant.store.id}/snapshot?part=members").get_json()
    allowance = dict(next(m["allowance"] for m in snapshot["members"] if m["id"] == member["id"]))
    allowance["allowance_cents"] = 50_000  # raised by hand: the signature no longer matches
    op = _sale(dish, cashier, member_id=member["id"], allowance=allowance,
               tenders=[{"type": "stored_value", "amount_cents": 2_000}])
    result = _push(device_api, op)["results"][0]
    assert result["status"] == "refused" and result["error"]["code"] == "offline_allowance_invalid"
    db.session.expire_all()
    assert db.session.get(Member, member["id"]).stored_value_cents == 1_000
    assert _count(db, Order) == 0
    assert [f.kind.label for f in db.session.scalars(sa.select(SyncFlag))] == ["refused"]
    # Without any allowance at all: refused the same way.
    op2 = _sale(dish, cashier, member_id=member["id"], tenders=[{"type": "stored_value", "amount_cents": 500}],
                unit=250)
    assert _push(device_api, op2)["results"][0]["error"]["code"] == "offline_allowance_invalid"


def test_tier_discount_as_the_till_knew_it(make, db):
    tenant, owner, device_api, _device, cashier, dish = _setup(make)
    member = create_member(make, tenant)
    db.session.execute(sa.update(Tier).where(Tier.merchant_id == tenant.merchant.id).values(discount_percent=10))
    db.session.commit()
    op = _sale(dish, cashier, member_id=member["id"], payable=1_800, tenders=[{"type": "cash", "amount_cents": 1_800}])
    op["priced"].update(tier_name="普通会员", tier_discount_percent=10, discount_cents=200)
    result = _push(device_api, op)["results"][0]
    assert result["status"] == "applied" and result["flags"] == []
    assert result["order"]["payable_cents"] == 1_800 and result["order"]["member_id"] == member["id"]


def test_snapshot_and_store_setting(make, db):
    tenant, owner, device_api, _device, cashier, dish = _setup(make)
    response = owner.patch(f"/stores/{tenant.store.id}", json={"offline_allowance_cents": 5_000})
    assert response.status_code == 200 and response.get_json()["offline_allowance_cents"] == 5_000
    assert owner.patch(f"/stores/{tenant.store.id}", json={"offline_allowance_cents": -1}).status_code == 422
    base = device_api.get(f"/stores/{tenant.store.id}/snapshot").get_json()
    assert base["store"]["offline_allowance_cents"] == 5_000
    assert [d["id"] for d in base["dishes"]] == [dish["id"]]
    assert any(s["id"] == cashier.id and s["password_hash"] for s in base["staff"])
    members = [create_member(make, tenant) for _ in range(3)]
    page = device_api.get(f"/stores/{tenant.store.id}/snapshot?part=members&limit=2").get_json()
    assert len(page["members"]) == 2 and page["next_after"] == page["members"][-1]["id"]
    rest = device_api.get(f"/stores/{tenant.store.id}/snapshot?part=members&limit=2"
                          f"&after={page['next_after']}").get_json()
    assert [m["id"] for m in page["members"] + rest["members"]] == [m["id"] for m in members]
    assert rest["next_after"] is None
    # Staff tokens cannot read it; devices cannot push for another store.
    assert owner.get(f"/stores/{tenant.store.id}/snapshot").status_code == 403


def test_bad_batches_are_refused_whole(make, db):
    _tenant, _owner, device_api, _device, cashier, dish = _setup(make)
    response = device_api.post("/sync/batches", json={"batch_key": "short", "operations": []})
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_batch"
    op = _sale(dish, cashier, tenders=[{"type": "cash", "amount_cents": 1.5}])
    response = device_api.post("/sync/batches", json={"batch_key": uuid.uuid4().hex, "operations": [op]})
    assert response.status_code == 422
    assert response.get_json()["error"]["details"]["field"] == "operations[0].tenders[0].amount_cents"
    assert _count(db, Order) == 0


def test_each_store_agent_reports_its_outbox(make, db):
    tenant, owner, device_api, device, _cashier, _dish = _setup(make)
    listed = owner.get(f"/sync/agents?store_id={tenant.store.id}").get_json()["agents"]
    assert [(a["device_id"], a["outbox_pending"], a["last_seen_at"]) for a in listed] == [(device.id, None, None)]
    response = device_api.post("/sync/state", json={"outbox_pending": 7,
                                                    "oldest_unsynced_at": "2026-11-29T04:00:00+00:00",
                                                    "last_synced_at": None})
    assert response.status_code == 200, response.get_json()
    agent = owner.get("/sync/agents").get_json()["agents"][0]
    assert agent["outbox_pending"] == 7 and agent["last_seen_at"] and agent["oldest_unsynced_at"].startswith(
        "2026-11-29T04:00:00")
    assert device_api.post("/sync/state", json={"outbox_pending": -1}).status_code == 422
    assert owner.post("/sync/state", json={"outbox_pending": 1}).status_code == 403


def test_changed_members_include_a_new_name(make, db):
    """The agent refreshes changed members with `since`: a renamed member is among them (the
    member_changed event told it to look), one left alone is not."""
    tenant, owner, device_api, _device, _cashier, _dish = _setup(make)
    renamed, untouched = create_member(make, tenant), create_member(make, tenant)
    for member in (renamed, untouched):  # joined before the agent's last refresh
        db.session.get(Member, member["id"]).created_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    since = device_api.get(f"/stores/{tenant.store.id}/snapshot?part=members").get_json()["as_of"]

    def changed():
        query = {"part": "members", "since": since}
        body = device_api.get(f"/stores/{tenant.store.id}/snapshot", query_string=query).get_json()
        return {m["id"]: m["name"] for m in body["members"]}

    assert changed() == {}
    assert owner.patch(f"/members/{renamed['id']}", json={"notes": "靠窗"}).status_code == 200
    assert changed() == {}  # a note is not in the agent's copy
    assert owner.patch(f"/members/{renamed['id']}", json={"name": "韩梅梅"}).status_code == 200
    assert changed() == {renamed["id"]: "韩梅梅"}


def test_an_add_operation_joins_the_tills_order_once_and_is_refused_without_one(make, db):
    tenant, owner, device_api, device, cashier, dish = _setup(make)
    cid = str(uuid.uuid4())
    order_op = {"op": "order", "key": f"order:{cid}", "client_order_id": cid, "occurred_at": NOW,
                "staff_id": cashier.id, "items": [{"dish_id": dish["id"], "qty": 1}], "printed_at_source": True,
                "priced": {"lines": [{"dish_id": dish["id"], "qty": 1, "unit_price_cents": 1_000}],
                           "subtotal_cents": 1_000}}
    add_op = {"op": "add", "key": "add:addition-0001", "client_order_id": cid, "occurred_at": NOW,
              "staff_id": cashier.id, "idempotency_key": "addition-0001", "printed_at_source": True,
              "items": [{"dish_id": dish["id"], "qty": 2, "note": "少盐"}],
              "priced": {"lines": [{"dish_id": dish["id"], "qty": 2, "unit_price_cents": 900}],
                         "subtotal_cents": 1_800}}
    # No order of that id on the server: refused, kept and flagged.
    lost = {**add_op, "key": "add:addition-0000", "client_order_id": str(uuid.uuid4())}
    assert _push(device_api, lost)["results"][0]["status"] == "refused"
    answer = _push(device_api, order_op, add_op)["results"]
    assert [r["status"] for r in answer] == ["applied", "applied"]
    order = answer[1]["order"]
    assert sorted((i["qty"], i["unit_price_cents"], i["note"]) for i in order["items"]) == [(1, 1_000, ""),
                                                                                              (2, 900, "少盐")]
    assert order["subtotal_cents"] == 2_800
    assert _push(device_api, add_op)["results"][0] == answer[1]  # sent again: applied once
    assert _count(db, Order) == 1
    tickets = db.session.scalars(sa.select(StoreEvent).where(StoreEvent.kind == EventKind.TICKET_NEW)).all()
    assert len(tickets) == 2 and all(t.payload["printed_at_source"] is True for t in tickets)
    assert [t.payload["mark"] for t in tickets] == ["new", "add"]
    # The till's price of the addition is honoured, and flagged as it differs from the menu's.
    flags = db.session.scalars(sa.select(SyncFlag).order_by(SyncFlag.id)).all()
    assert [f.kind.label for f in flags] == ["refused", "price_changed"]
    assert flags[1].details["lines"][0]["till_cents"] == 900
