"""The agent follows the store event log of a real server and prints from it.

The server is the real app served by werkzeug in a subprocess on the test database (SQLite or
PostgreSQL); the agent is `python -m pos_agent` in a subprocess with its device token; the
printers are virtual network printers whose paper is read back with the decoder. Orders are
made over HTTP, as a till would make them. Processes are killed with SIGKILL, as a power cut
would.
"""

from __future__ import annotations

import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from simulators.printer import VirtualPrinter
from tests.agent_support import AgentProcess, Http, ServerProcess, agent_config, until
from tests.factories import create_dish


@dataclass
class Store:
    tenant: object
    device_id: int
    device_token: str
    dish_id: int
    server: ServerProcess
    front: VirtualPrinter
    kitchen: VirtualPrinter
    tmp: Path
    cashier: Http | None = None

    def agent(self, **follow) -> AgentProcess:
        config = agent_config(store_id=self.tenant.store.id, server_url=self.server.url, token=self.device_token,
                              data_dir=self.tmp / "agent-data",
                              printers={"front": self.front.port, "kitchen": self.kitchen.port}, **follow)
        return AgentProcess(config, self.tmp)

    def api(self) -> Http:
        if self.cashier is None:
            self.cashier = Http(self.server.url + "/api/v1")
        if self.cashier.token is None:
            username = self.tenant.cashier.username
            self.cashier.token = self.cashier.post("/auth/token", {"username": username, "password": "password123"},
                                                   expect=200)["token"]
        return self.cashier

    def order(self, qty: int = 1) -> dict:
        return self.api().post("/orders", {"store_id": self.tenant.store.id, "idempotency_key": uuid.uuid4().hex,
                                           "items": [{"dish_id": self.dish_id, "qty": qty}]}, expect=201)

    def void(self, order: dict) -> None:
        line = order["items"][0]["id"]
        self.api().post(f"/orders/{order['id']}/lines/{line}/void", {"reason": "客人不要了"}, expect=200)


@pytest.fixture
def store(make, db, app, tmp_path) -> Iterator[Store]:
    tenant = make.tenant()
    tenant.cashier = make.staff(tenant, "cashier")
    dish = create_dish(make, tenant, "辣椒炒肉", 4_800, station="hot")
    device, token = make.device(tenant, "前台收银机")
    server = ServerProcess(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path)
    with VirtualPrinter(port=0, name="front") as front, VirtualPrinter(port=0, name="kitchen", keep=2000) as kitchen:
        server.start()
        try:
            yield Store(tenant, device.id, token, dish["id"], server, front, kitchen, tmp_path)
        finally:
            server.stop()


def _online(agent: AgentProcess) -> dict | None:
    follow = agent.status()["follow"]
    return follow if follow["online"] and follow["cursor"] is not None else None


PAPER_MARKS = {"退菜 CANCEL": "cancel", "改单 CHANGED": "change", "催菜 RUSH": "rush"}


def _paper_key(lines: list[str]) -> tuple[str, str] | None:
    """(order_no, new | cancel | change | rush) of a kitchen ticket on paper."""
    order_no = next((line.removeprefix("单号 No. ") for line in lines if line.startswith("单号 No. ")), None)
    if order_no is None:
        return None
    return order_no, next((mark for line, mark in PAPER_MARKS.items() if line in lines), "new")


def _printed(printer: VirtualPrinter) -> Counter:
    return Counter(_paper_key(job.decoded.lines) for job in printer.printed_jobs)


def test_a_fresh_agent_starts_at_the_head_and_prints_only_what_comes_after(store):
    old = [store.order() for _ in range(3)]
    agent = store.agent().start()
    try:
        until(lambda: _online(agent), "the agent to follow the log")
        new = store.order(qty=2)
        store.kitchen.wait_for_jobs(1, timeout=30)
        # Events are handled in order: had the three older tickets been printed, they came first.
        assert _printed(store.kitchen) == Counter({(str(new["id"]), "new"): 1})
        assert all((str(o["id"]), "new") not in _printed(store.kitchen) for o in old)
        assert "辣椒炒肉 x2" in store.kitchen.printed_jobs[0].decoded.lines
        with urllib.request.urlopen(agent.url + "/", timeout=10) as page:
            assert "服务器连接 Server link: <strong>在线 Online</strong>" in page.read().decode()
    finally:
        agent.stop()


def test_two_hundred_kitchen_events_print_once_through_three_kills_and_a_server_restart(store, db):
    from app.orders.models import KitchenTicket

    agent = store.agent().start()
    until(lambda: _online(agent), "the agent to follow the log")
    expected: list[tuple[str, str]] = []
    kills = {45: "agent", 95: "agent", 125: "server", 160: "agent"}
    events = 0
    try:
        while events < 200:
            order = store.order(qty=1 + events % 3)
            expected.append((str(order["id"]), "new"))
            events += 1
            if events % 5 == 0:
                store.void(order)
                expected.append((str(order["id"]), "cancel"))
                events += 1
            what = next((kills.pop(n) for n in sorted(kills) if n <= events), None)
            if what == "agent":
                agent.kill()
                for _ in range(4):  # sold while the agent is down: printed when it is back
                    order = store.order()
                    expected.append((str(order["id"]), "new"))
                    events += 1
                agent.start()
            elif what == "server":
                store.server.kill()
                store.server.start()  # same port, same database
                store.cashier = None  # a new token is not needed, but a new connection is
        assert events >= 200 and agent.starts == 4 and store.server.starts == 2

        def settled() -> bool:
            jobs = agent.jobs(limit=2000)
            return all(job["state"] in ("printed", "uncertain") for job in jobs) and len(jobs) == len(expected)

        until(settled, "every ticket to be recorded and sent", timeout=120)
        # A job being sent at the moment of a kill is `uncertain`: a person looks at the paper and
        # decides, as the status page asks. The virtual printer's paper is what they would see.
        paper = _printed(store.kitchen)
        db.session.rollback()  # read what the server wrote since this session's last look
        for job in agent.jobs(limit=2000):
            if job["state"] == "uncertain":
                ticket_id = int(job["document_id"].split("-")[1])
                order_no = str(db.session.get(KitchenTicket, ticket_id).order_id)
                key = (order_no, "cancel" if job["version"] > 1 else "new")  # a cancellation is the next version
                Http(agent.url).post(f"/api/jobs/{job['id']}/resolve", {"printed": paper[key] > 0})
        until(lambda: all(job["state"] == "printed" for job in agent.jobs(limit=2000)), "every job printed")
        store.kitchen.wait_for_jobs(len(expected), timeout=60)
        printed = _printed(store.kitchen)
        assert sorted(printed.elements()) == sorted(expected)  # every ticket once: none lost, none twice
        assert len(store.kitchen.printed_jobs) == len(expected)
        assert agent.status()["follow"]["cursor"] >= events
    finally:
        agent.stop()


def test_what_this_agent_printed_offline_is_skipped_on_the_log(store, db):
    """The sync endpoint marks the events of an offline sale with the selling device; the agent
    that printed them at the till prints nothing again, another agent would."""
    from app.db import begin_write
    from app.events.models import EventKind
    from app.events.service import NewEvent, append_all
    from tablerules import documents as contract

    agent = store.agent().start()
    try:
        until(lambda: _online(agent), "the agent to follow the log")
        tenant = store.tenant

        def till_ticket(order_no: str, device_id: int) -> dict:
            ticket = contract.KitchenTicket(
                document_id=f"till-{order_no}", ticket_no=order_no, order_no=order_no,
                created_at="2026-11-29T12:00:00+08:00", station="hot",
                items=(contract.OrderItem(name="口味虾", qty=1, station="hot"),))
            return {**ticket.to_dict(), "printed_at_source": True, "source_device_id": device_id}

        receipt = contract.Receipt(document_id="till-receipt-T1", order_no="T1", payable_cents=8_800,
                                   items=(contract.ReceiptItem(name="口味虾", qty=1, amount_cents=8_800),),
                                   tenders=(contract.TenderLine(type="cash", amount_cents=8_800),)).to_dict()
        merchant_id, store_id = tenant.merchant.id, tenant.store.id
        db.session.rollback()
        begin_write()  # as the sync endpoint's request would
        append_all(merchant_id, store_id, [
            NewEvent(EventKind.TICKET_NEW, till_ticket("T1", store.device_id)),
            NewEvent(EventKind.PRINT_JOB, {**receipt, "printed_at_source": True, "source_device_id": store.device_id}),
            NewEvent(EventKind.TICKET_NEW, till_ticket("T2", store.device_id + 1000)),
        ])
        db.session.commit()
        last = store.order()  # rings the server's doorbell; its ticket comes after the three above
        store.kitchen.wait_for_jobs(2, timeout=30)
        assert _printed(store.kitchen) == Counter({("T2", "new"): 1, (str(last["id"]), "new"): 1})
        assert store.front.printed_jobs == []
    finally:
        agent.stop()


def test_polling_the_pages_prints_too_when_the_stream_is_not_used(store):
    agent = store.agent(mode="poll", poll_interval_s=0.1).start()
    try:
        until(lambda: _online(agent), "the agent to follow the log")
        order = store.order()
        store.void(order)
        store.kitchen.wait_for_jobs(2, timeout=30)
        assert _printed(store.kitchen) == Counter({(str(order["id"]), "new"): 1, (str(order["id"]), "cancel"): 1})
        assert agent.status()["follow"]["mode"] == "poll"
    finally:
        agent.stop()


def test_a_change_and_a_rush_print_once_each_even_when_the_log_is_read_again(store):
    """改单 and 催菜 on the kitchen printer: one slip each. A rush asked again too soon is refused
    on the server (nothing to print); the whole log read again from its start prints nothing."""
    from pos_agent.follow import CURSOR_FILE, CursorStore

    agent = store.agent().start()
    try:
        until(lambda: _online(agent), "the agent to follow the log")
        order = store.order(qty=3)
        line = order["items"][0]["id"]
        store.api().call("PATCH", f"/orders/{order['id']}/lines/{line}", {"qty": 2, "reason": "点多了"}, expect=200)
        rush = store.api().post(f"/orders/{order['id']}/rush", {}, expect=201)
        assert rush["rush_no"] == 1
        store.api().post(f"/orders/{order['id']}/rush", {}, expect=429)
        jobs = store.kitchen.wait_for_jobs(3, timeout=30)
        assert _printed(store.kitchen) == Counter({(str(order["id"]), mark): 1 for mark in ("new", "change", "rush")})
        change, slip = jobs[1].decoded.lines, jobs[2].decoded.lines
        assert "改 辣椒炒肉 x2" in change and any("原 Was x3" in line for line in change)
        assert "辣椒炒肉 x2" in slip and any(line.startswith("催菜 Rushed") for line in slip)
    finally:
        agent.stop()
    # The cursor lost: the agent reads the whole log again, and its print ledger prints nothing twice.
    cursors = CursorStore(store.tmp / "agent-data" / CURSOR_FILE)
    cursors.save(str(store.tenant.store.id), 0)
    cursors.close()
    again = store.agent().start()
    try:
        until(lambda: (_online(again) or {}).get("cursor", 0) >= agent_head(store), "the log read again")
        # Jobs are recorded before the cursor moves past their event: a replay would show here.
        assert sorted((j["document_id"].split("-")[0], j["version"]) for j in again.jobs()) == [
            ("rush", 1), ("ticket", 1), ("ticket", 2)]
        assert len(store.kitchen.printed_jobs) == 3
    finally:
        again.stop()


def agent_head(store: Store) -> int:
    events = store.api().get(f"/stores/{store.tenant.store.id}/events?limit=1000")["events"]
    return events[-1]["seq"]


def test_a_paid_bill_prints_its_receipt_and_printer_trouble_reaches_the_server(store, make, db):
    from app.auth.models import Device
    from app.events.models import EventKind, StoreEvent

    agent = store.agent().start()
    try:
        until(lambda: _online(agent), "the agent to follow the log")
        order = store.order(qty=2)
        store.api().post(f"/orders/{order['id']}/settle", {
            "idempotency_key": uuid.uuid4().hex, "tenders": [{"type": "cash", "amount_cents": 10_000}]}, expect=200)
        (receipt,) = store.front.wait_for_jobs(1, timeout=30)
        assert "结账单 RECEIPT" in receipt.decoded.lines and receipt.decoded.drawer_kicks == 0

        def kitchen_state() -> str | None:
            db.session.rollback()  # a fresh look at what the server wrote
            status = db.session.get(Device, store.device_id).status or {}
            return next((p["state"] for p in status.get("printers", []) if p["name"] == "kitchen"), None)

        until(lambda: kitchen_state() == "online", "the kitchen printer reported online")
        store.kitchen.run_out_of_paper()
        until(lambda: kitchen_state() == "paper_out", "the kitchen printer reported out of paper", timeout=60)
        device = db.session.get(Device, store.device_id)
        assert device.last_seen_at is not None and device.status["outbox_pending"] == 0
        assert device.status["cursor"] is not None and device.status["version"]
        logged = db.session.scalars(db.select(StoreEvent).where(
            StoreEvent.store_id == store.tenant.store.id, StoreEvent.kind == EventKind.DEVICE_STATUS)
            .order_by(StoreEvent.seq)).all()
        last = logged[-1].payload
        assert last["device_id"] == store.device_id
        assert [(p["name"], p["role"], p["state"]) for p in last["printers"]] == [
            ("front", "receipt", "online"), ("kitchen", "kitchen", "paper_out")]
        assert "缺纸" in last["printers"][1]["message"]
        store.kitchen.go_online()
        until(lambda: kitchen_state() == "online", "the kitchen printer reported back", timeout=60)
    finally:
        agent.stop()


def test_the_demo_agent_is_registered_by_the_demo_data(app, db, client):
    """`make run` starts `python -m pos_agent --config config/pos_agent.demo.yaml`: the demo data
    holds its device, so it follows the demo store's log with no step by hand."""
    import sqlalchemy as sa

    from app.demo.seed import load_demo
    from app.tenants.models import Store
    from pos_agent.config import load_config
    from tests.agent_support import ROOT

    config = load_config(ROOT / "config" / "pos_agent.demo.yaml")
    load_demo(member_count=40)
    first = db.session.scalars(sa.select(Store).order_by(Store.id)).first()
    me = client.get("/api/v1/devices/me", headers={"Authorization": f"Bearer {config.device_token}"})
    assert me.status_code == 200, me.get_json()
    assert me.get_json()["store_id"] == first.id and str(first.id) == config.store_id
    assert config.server_url == "http://127.0.0.1:8000" and config.follow.enabled
    assert {p.role for p in config.printers} == {"receipt", "kitchen"}
    assert load_demo(member_count=40) is False  # loading again adds no second device
