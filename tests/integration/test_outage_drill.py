"""The outage drill: a real server, the on-site agent as its own process, virtual printers.

The server goes away mid-shift; the till sells 50 bills through the agent (cash, member tier
discounts, stored value within the offline allowance, one beyond it refused); every kitchen
ticket and receipt prints once, at once. The server comes back; the agent is killed with
SIGKILL in the middle of its push and started again; every sale reaches the server exactly
once, the members' ledgers equal their balances, points are earned, and nothing prints twice.
"""

from __future__ import annotations

import os
import re
import time
import uuid

import pytest
import sqlalchemy as sa

from app.events.models import EventKind, StoreEvent
from app.members.models import Account, LedgerEntry, Member, Tier
from app.orders.models import Order, Payment
from simulators.printer import VirtualPrinter
from tests.factories import create_dish, create_member
from tests.integration.agent_support import AgentProcess, LiveServer, free_port, until

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
                       reason="the outage drill runs on PostgreSQL (TEST_DATABASE_URL)"),
]

BILLS = 50
STORED_VALUE_BILLS = 5
TIER_PERCENT = 10


def _config(server: LiveServer, store_id: int, token: str, tmp_path, front: VirtualPrinter,
            kitchen: VirtualPrinter) -> dict:
    return {
        "store_id": str(store_id), "server_url": server.url, "device_token": token,
        "data_dir": str(tmp_path / "agent-data"), "http": {"host": "127.0.0.1", "port": free_port()},
        "retry_interval_s": 0.2, "status_interval_s": 60, "sync_interval_s": 0.2, "sync_batch_size": 4,
        "resync_interval_s": 30, "forward_timeout_s": 3,
        "store": {"name": "老王面馆"},
        "printers": [
            {"name": "front", "type": "network", "address": f"127.0.0.1:{front.port}", "role": "receipt",
             "profile": "TM-T20II", "timeout_s": 2},
            {"name": "kitchen", "type": "network", "address": f"127.0.0.1:{kitchen.port}", "role": "kitchen",
             "stations": ["*"], "paper_width_mm": 58, "timeout_s": 2},
        ],
    }


def _texts(printer: VirtualPrinter) -> list[str]:
    return ["\n".join(job.decoded.lines) for job in printer.printed_jobs]


def _order_nos(texts: list[str]) -> list[str]:
    return [no for text in texts for no in set(re.findall(r"\bL(?:\d+-)?\d{4}\b", text))]


@pytest.fixture
def printers():
    with VirtualPrinter(port=0, name="front") as front, VirtualPrinter(port=0, name="kitchen") as kitchen:
        yield front, kitchen


def test_outage_drill(make, app, db, tmp_path, printers):
    front, kitchen = printers
    tenant = make.tenant()
    owner = make.api(tenant.owner)
    rice = create_dish(make, tenant, "蛋炒饭", 1_000, station="hot")
    cucumber = create_dish(make, tenant, "拍黄瓜", 800, station="cold", category="凉菜")
    members = [create_member(make, tenant, name=f"会员{i}") for i in range(10)]
    db.session.execute(sa.update(Tier).where(Tier.merchant_id == tenant.merchant.id)
                       .values(discount_percent=TIER_PERCENT))
    db.session.commit()
    for member in members[:STORED_VALUE_BILLS]:
        owner.post(f"/members/{member['id']}/topups", json={"amount_cents": 10_000, "tender": "cash",
                                                            "idempotency_key": uuid.uuid4().hex})
    poor = members[9]  # 10 yuan on the card: an offline allowance of 10 yuan
    owner.post(f"/members/{poor['id']}/topups", json={"amount_cents": 1_000, "tender": "cash",
                                                      "idempotency_key": uuid.uuid4().hex})
    _device, device_token = make.device(tenant)
    cashier = make.staff(tenant, "cashier")

    server = LiveServer(app)
    server.start()
    agent = AgentProcess(_config(server, tenant.store.id, device_token, tmp_path, front, kitchen), tmp_path)
    try:
        agent.start()
        until(lambda: agent.call("GET", "/api/v1/status")[1]["online"]
              and agent.call("GET", "/api/v1/status")[1].get("local_copy_as_of"), 30, "the local copy")
        status, session = agent.call("POST", "/api/v1/session", {"username": cashier.username,
                                                                 "password": make.PASSWORD})
        assert status == 200, session
        token = session["token"]
        assert agent.call("GET", "/api/v1/menu", token=token)[1]["dishes"][0]["name"] == "蛋炒饭"

        # Online: forwarded at once, the server's answer is the truth; the till prints nothing itself,
        # its ticket and receipt print from the store event log (the follower), like any other order.
        online_id = str(uuid.uuid4())
        status, order = agent.call("POST", "/api/v1/orders", {"client_order_id": online_id,
                                                              "items": [{"dish_id": rice["id"], "qty": 1}]}, token)
        assert status == 201 and order["server_id"] and order["synced"] is True, order
        status, paid = agent.call("POST", f"/api/v1/orders/{online_id}/settle", {
            "tenders": [{"type": "cash", "amount_cents": 1_000}], "idempotency_key": uuid.uuid4().hex}, token)
        assert status == 200 and paid["synced"] is True and paid["payable_cents"] == 1_000, paid

        # --- the outage ---------------------------------------------------------------------
        server.stop()
        sales, tickets = {}, 0
        for i in range(BILLS):
            cid = str(uuid.uuid4())
            items = [{"dish_id": rice["id"], "qty": 1 + i % 3}]
            if i % 2 == 0:
                items.append({"dish_id": cucumber["id"], "qty": 1})
            status, order = agent.call("POST", "/api/v1/orders", {"client_order_id": cid, "items": items}, token)
            assert status == 201 and order["synced"] is False and order["server_id"] is None, order
            tickets += len({item["dish_id"] for item in items})
            subtotal = order["subtotal_cents"]
            assert subtotal == sum(1_000 * it["qty"] if it["dish_id"] == rice["id"] else 800 for it in items)
            member = None
            if i < STORED_VALUE_BILLS:
                member = members[i]
            elif i < 20:
                member = members[5 + i % 4]
            payable = subtotal - subtotal * TIER_PERCENT // 100 if member else subtotal
            key = uuid.uuid4().hex
            if i < STORED_VALUE_BILLS:
                tenders = [{"type": "stored_value", "amount_cents": payable}]
            else:
                tenders = [{"type": "cash", "amount_cents": -(-payable // 5_000) * 5_000}]
            if i == 5:  # stored value beyond the member's offline allowance: refused, nothing printed
                status, refused = agent.call("POST", f"/api/v1/orders/{cid}/settle", {
                    "member_id": poor["id"], "tenders": [{"type": "stored_value", "amount_cents": subtotal * 9 // 10}],
                    "idempotency_key": uuid.uuid4().hex}, token)
                assert status == 409 and refused["error"]["code"] == "offline_limit_exceeded", refused
            if i == 6:  # WeChat Pay needs the server
                status, refused = agent.call("POST", f"/api/v1/orders/{cid}/settle", {
                    "tenders": [{"type": "wechat", "amount_cents": payable}], "idempotency_key": uuid.uuid4().hex},
                    token)
                assert status == 409 and refused["error"]["code"] == "tender_unavailable_offline", refused
            body = {"tenders": tenders, "idempotency_key": key}
            if member:
                body["member_id"] = member["id"]
            status, paid = agent.call("POST", f"/api/v1/orders/{cid}/settle", body, token)
            assert status == 200 and paid["status"] == "paid" and paid["synced"] is False, paid
            assert paid["payable_cents"] == payable and paid["paid_cents"] == payable
            assert paid["change_cents"] == sum(t["amount_cents"] for t in tenders) - payable
            if i == 7:  # the same settle again: the same answer, printed once
                assert agent.call("POST", f"/api/v1/orders/{cid}/settle", body, token) == (200, paid)
            sales[cid] = {"payable": payable, "member": member, "tenders": tenders, "order_no": order["order_no"],
                          "key": key}

        status, state = agent.call("GET", "/api/v1/status")
        assert state["online"] is False and state["outbox_pending"] == BILLS
        assert {p["name"] for p in state["printers"]} == {"front", "kitchen"}

        # Every kitchen ticket and receipt printed at once, once.
        kitchen.wait_for_jobs(tickets, timeout=60)
        front.wait_for_jobs(BILLS, timeout=60)
        numbers = {sale["order_no"] for sale in sales.values()}
        assert sorted(_order_nos(_texts(front))) == sorted(numbers)

        # --- the server is back; the agent is killed in the middle of its push ---------------
        back_at = time.monotonic()
        server.start()
        until(lambda: agent.call("GET", "/api/v1/status")[1]["outbox_pending"] < BILLS, 30, "the push to start")
        agent.kill()
        pushed_before_kill = _synced_count(db, tenant.store.id, sales)
        # 100 operations in batches of 4: the kill lands while batches are still to go.
        assert 0 < pushed_before_kill < BILLS, pushed_before_kill
        agent.start()
        until(lambda: agent.call("GET", "/api/v1/status")[1]["outbox_pending"] == 0, 30, "every sale to sync")
        until(lambda: _synced_count(db, tenant.store.id, sales) == BILLS, 30 - (time.monotonic() - back_at),
              "every sale on the server")
        status, state = agent.call("GET", "/api/v1/status")
        assert state["online"] is True and state["last_synced_at"]
        status, order = agent.call("GET", f"/api/v1/orders/{next(iter(sales))}", token=token)
        assert order["synced"] is True

        # --- exactly once, ledgers equal balances, points earned --------------------------------
        db.session.rollback()
        orders = db.session.scalars(sa.select(Order).where(Order.client_order_id.in_(list(sales)))).all()
        assert len(orders) == BILLS
        for order in orders:
            sale = sales[order.client_order_id]
            assert order.status.label == "paid" and order.payable_cents == sale["payable"]
            assert order.member_id == (sale["member"]["id"] if sale["member"] else None)
            assert [t.to_dict() for t in order.charged_bill.tenders] == sale["tenders"]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment).where(
            Payment.order_id.in_([o.id for o in orders]))) == BILLS
        for i, member in enumerate(members):
            row = db.session.get(Member, member["id"])
            for account in Account:
                total = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.delta), 0)).where(
                    LedgerEntry.member_id == row.id, LedgerEntry.account == account))
                assert total == row.balance(account), (member["id"], account)
            spent = sum(s["payable"] for s in sales.values() if s["member"] and s["member"]["id"] == row.id
                        and s["tenders"][0]["type"] == "stored_value")
            if i < STORED_VALUE_BILLS:
                assert row.stored_value_cents == 10_000 - spent
            if any(s["member"] and s["member"]["id"] == row.id for s in sales.values()):
                assert row.points > 0, "points of offline sales are earned when they sync"
        assert db.session.get(Member, poor["id"]).stored_value_cents == 1_000

        # The server knows the till printed them: its events say so, for the follower to skip.
        events = db.session.scalars(sa.select(StoreEvent).where(
            StoreEvent.order_id.in_([o.id for o in orders]),
            StoreEvent.kind.in_([EventKind.TICKET_NEW, EventKind.PRINT_JOB]))).all()
        assert len(events) == tickets + BILLS
        assert all(e.payload.get("printed_at_source") is True for e in events)

        # Nothing printed twice: not by the push, not by the restart, not by the event log — which
        # printed only the online sale (one ticket, one receipt).
        until(lambda: len(kitchen.printed_jobs) >= tickets + 1 and len(front.printed_jobs) >= BILLS + 1, 30,
              "the online sale printed from the event log")
        until(lambda: agent.call("GET", "/api/v1/status")[1]["cursor"] >= max(e.seq for e in events), 30,
              "the follower to read the synced sales' events")
        agent.stop()
        assert len(kitchen.printed_jobs) == tickets + 1
        assert len(front.printed_jobs) == BILLS + 1
        assert sorted(_order_nos(_texts(front))) == sorted(numbers)
    finally:
        agent.stop()
        server.stop()


def _synced_count(db, store_id: int, sales: dict) -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(Order).where(
        Order.store_id == store_id, Order.client_order_id.in_(list(sales)), Order.paid_at.is_not(None)))
