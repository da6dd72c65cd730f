"""The server's real output, read by the agent: one contract on both ends.

A dinner is driven through the HTTP API (order at a table, more dishes, a dish voided, a ticket
bumped and recalled, diner picks confirmed by the waiter, a member's settlement, a refund, the
cashier's shift closed). Then the store event log is read as the agent reads it — the JSON list
and the SSE stream — and every event goes through the agent's parser (`tablerules.documents`),
every printed document through its layout (`pos_agent.printing.documents.build_ops`), its
ESC/POS renderer and, to close the loop, its spooler onto virtual printers whose paper is read
back with the decoder.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest

from app.events.models import EventKind
from pos_agent.config import PrinterConfig, StoreInfo, parse_config
from pos_agent.printing.adapter import PrinterAdapter
from pos_agent.printing.documents import KINDS, build_ops
from pos_agent.printing.ledger import PrintLedger
from pos_agent.printing.spooler import PrintRequest, PrintSpooler
from simulators.printer import VirtualPrinter, decode
from tablerules import documents as contract
from tablerules.documents import KitchenTicket, Receipt, ShiftSummary, StoreEvent, event_from_sse
from tablerules.money import format_cny
from tests.factories import create_dish, create_member, create_table

PRINTED_AT = datetime(2024, 5, 1, 4, 31, 5, tzinfo=UTC)
STORE = StoreInfo(name="老王面馆", address="上海市徐汇区漕溪北路88号", footer=("谢谢惠顾 Thank you",))
# Every kind with a contract type for its payload; the others (cart_changed, bill_pushed) are
# for the diners' pages and reach the agent as raw payloads it skips.
TYPED_KINDS = contract.TICKET_EVENTS | {"print_job", "order_submitted", "order_paid", "order_refunded"}


def key() -> str:
    return uuid.uuid4().hex


def ok(response, status=200):
    assert response.status_code == status, response.get_json()
    return response.get_json()


@pytest.fixture
def dinner(make, db):
    """A store's evening on the API; answers (tenant, staff api, what happened)."""
    from app.tenants.models import Store

    tenant = make.tenant()
    owner, cashier = make.api(tenant.owner), make.api(make.staff(tenant, "cashier"))
    cook = make.api(make.staff(tenant, "kitchen"))
    pork = create_dish(make, tenant, "辣椒炒肉", 4_800, station="hot")
    fungus = create_dish(make, tenant, "凉拌木耳", 2_200, category="凉菜", station="cold")
    create_table(make, tenant, code="A12")
    ok(owner.request("PUT", "/menu/stations/hot", json={"name": "热菜"}))  # cold keeps its code
    member = create_member(make, tenant, name="李雷")
    ok(cashier.post(f"/members/{member['id']}/topups",
                    json={"amount_cents": 50_000, "tender": "cash", "idempotency_key": key()}), 201)

    # The cashier's order at A12: one ticket per station; then more dishes (加菜); then 退菜.
    order = ok(cashier.post("/orders", json={"store_id": tenant.store.id, "table": "A12", "idempotency_key": key(),
                                             "items": [{"dish_id": pork["id"], "qty": 2, "note": "少辣"},
                                                       {"dish_id": fungus["id"], "qty": 1}]}), 201)
    order = ok(cashier.post(f"/orders/{order['id']}/items", json={
        "idempotency_key": key(), "items": [{"dish_id": pork["id"], "qty": 1}]}), 201)
    voided = next(i for i in order["items"] if i["name"] == "凉拌木耳")
    ok(cashier.post(f"/orders/{order['id']}/lines/{voided['id']}/void", json={"reason": "客人不要了"}))
    ticket = ok(cook.get(f"/stores/{tenant.store.id}/tickets"))["tickets"][0]
    ok(cook.post(f"/tickets/{ticket['ticket_id']}/bump"))
    ok(cook.post(f"/tickets/{ticket['ticket_id']}/recall"))

    # Diners' picks at B3 wait for the waiter, who confirms them.
    db.session.get(Store, tenant.store.id).is_waiter_confirm = True
    db.session.commit()
    b3 = create_table(make, tenant, code="B3")
    phone = f"/api/v1/diner/tables/{urlsplit(b3['qr_url']).path.rstrip('/').rsplit('/', 1)[-1]}/cart"
    ok(make.client.post(f"{phone}/lines", json={"dish_id": fungus["id"], "qty": 2, "diner": "小王"}), 201)
    picks = ok(make.client.post(f"{phone}/send"))
    picked = ok(cashier.get(f"/orders/{picks['order_id']}"))
    ok(cashier.post(f"/orders/{picked['id']}/lines/confirm", json={"line_ids": [i["id"] for i in picked["items"]]}))

    # A1's member pays with stored value and cash (with change), then one dish is refunded.
    bill = ok(cashier.get(f"/orders/{order['id']}/bill", query_string={"member_id": member["id"]}))
    cash = bill["payable_cents"] - 10_000 + 500
    paid = ok(cashier.post(f"/orders/{order['id']}/settle", json={
        "member_id": member["id"], "idempotency_key": key(),
        "tenders": [{"type": "stored_value", "amount_cents": 10_000}, {"type": "cash", "amount_cents": cash}]}))
    refunded_line = next(i for i in order["items"] if i["name"] == "辣椒炒肉" and i["qty"] == 1)
    refund = ok(cashier.post(f"/orders/{order['id']}/refund", json={
        "reason": "上菜太慢", "idempotency_key": key(), "lines": [{"line_id": refunded_line["id"], "qty": 1}]}))

    current = ok(cashier.get("/shifts/current", query_string={"opening_float_cents": 20_000}))
    counted = current["summary"]["expected_cash_cents"] - 100
    ok(cashier.post("/shifts/close", json={"opening_float_cents": 20_000, "counted_cash_cents": counted,
                                           "idempotency_key": key()}), 201)
    return tenant, owner, {"order": order, "paid": paid, "refund": refund, "voided": voided, "counted": counted,
                           "picks": picked}


def read_log(api, store_id) -> list[dict]:
    return ok(api.get(f"/stores/{store_id}/events", query_string={"limit": 1000}))["events"]


def read_stream(app, token: str, store_id: int, count: int, timeout: float = 10.0) -> list[str]:
    """The first `count` SSE messages of the store's stream, as raw text."""
    response = app.test_client().get(f"/api/v1/stores/{store_id}/events/stream",
                                     headers={"Authorization": f"Bearer {token}"}, buffered=False)
    assert response.status_code == 200
    messages: list[str] = []
    done = threading.Event()

    def pump():
        buffer = ""
        for chunk in response.response:
            buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
            while "\n\n" in buffer:
                message, buffer = buffer.split("\n\n", 1)
                if "data:" in message:
                    messages.append(message)
                    if len(messages) >= count:
                        done.set()
                        return

    threading.Thread(target=pump, daemon=True).start()
    assert done.wait(timeout), f"only {len(messages)} of {count} messages arrived"
    response.close()
    return messages


def test_the_contract_knows_every_kind_of_the_event_log():
    assert tuple(kind.label for kind in EventKind) == contract.EVENT_KINDS
    assert set(KINDS) == set(contract.DOCUMENT_KINDS)


def test_every_event_the_server_writes_parses_as_the_contract(dinner):
    tenant, owner, _ = dinner
    events = [StoreEvent.from_dict(e) for e in read_log(owner, tenant.store.id)]
    kinds = {e.kind for e in events}
    assert {"ticket_new", "ticket_cancelled", "ticket_bumped", "ticket_recalled", "print_job", "order_submitted",
            "order_paid", "order_refunded"} <= kinds
    assert [e.kind for e in events if e.kind in TYPED_KINDS and e.body is None] == []
    # The server builds through the contract: what it wrote is exactly what the contract writes back.
    for event in events:
        if event.body is not None:
            assert event.body.to_dict() == dict(event.payload), event.kind


def test_the_sse_stream_carries_the_same_events(dinner, app):
    tenant, owner, _ = dinner
    listed = [StoreEvent.from_dict(e) for e in read_log(owner, tenant.store.id)]
    streamed = [event_from_sse(m) for m in read_stream(app, owner.token, tenant.store.id, len(listed))]
    assert streamed == listed
    assert [e.body for e in streamed] == [e.body for e in listed]


def test_what_the_server_says_is_what_the_paper_says(dinner):
    tenant, owner, seen = dinner
    events = [StoreEvent.from_dict(e) for e in read_log(owner, tenant.store.id)]
    documents = [e.document() for e in events if e.document() is not None]
    by_kind: dict[str, list] = {}
    for document in documents:
        by_kind.setdefault(document.kind, []).append(document)
    assert sorted(by_kind) == ["kitchen_ticket", "receipt", "refund", "shift_summary"]
    order_no = str(seen["order"]["id"])

    tickets: list[KitchenTicket] = by_kind["kitchen_ticket"]
    assert [(t.mark, t.station, [(i.name, i.qty) for i in t.items]) for t in tickets if t.order_no == order_no] == [
        ("new", "cold", [("凉拌木耳", 1)]),
        ("new", "hot", [("辣椒炒肉", 2)]),
        ("add", "hot", [("辣椒炒肉", 1)]),
        ("cancel", "cold", [("凉拌木耳", 1)]),
        ("cancel", "hot", [("辣椒炒肉", 1)]),  # refunded before it was served: not to be cooked
    ]
    cancel = next(t for t in tickets if t.mark == "cancel")
    assert cancel.reason == "客人不要了" and cancel.items[0].line_id == seen["voided"]["id"]
    assert len({(t.document_id, t.version) for t in tickets}) == len(tickets)  # each prints once

    (receipt,) = by_kind["receipt"]
    assert isinstance(receipt, Receipt) and receipt.order_no == order_no and receipt.table == "A12"
    assert receipt.payable_cents == seen["paid"]["payable_cents"] and receipt.change_cents == 500
    cash = receipt.payable_cents - 10_000 + 500
    assert [(t.type, t.amount_cents) for t in receipt.tenders] == [("stored_value", 10_000), ("cash", cash)]
    assert receipt.member is not None and receipt.member.name == "李雷"
    assert receipt.steps[0].kind == "subtotal" and "payable" not in [s.kind for s in receipt.steps]
    (refund,) = by_kind["refund"]
    assert refund.refunded_cents == seen["refund"]["refunded_cents"] and refund.reason == "上菜太慢"
    (shift,) = by_kind["shift_summary"]
    assert isinstance(shift, ShiftSummary)
    assert shift.counted_cash_cents == seen["counted"] and shift.difference_cents == -100
    assert shift.sales_cents == seen["paid"]["payable_cents"] and shift.refunds_cents == refund.refunded_cents

    adapter = PrinterAdapter(PrinterConfig(name="p", type="file", address="/dev/null", role="receipt",
                                           profile="TM-T20II"))
    for document in documents:
        for columns in (32, 48):
            ops = build_ops(document, STORE, columns=columns, printed_at=PRINTED_AT)
            paper = decode(adapter.render(ops))
            assert paper.cuts == 1 and not paper.unknown, document.document_id
            text = paper.text
            if isinstance(document, KitchenTicket):
                assert all(item.name in text for item in document.items)
                assert f"单号 No. {document.order_no}" in paper.lines
            elif isinstance(document, Receipt):
                assert f"单号 Order: {document.order_no}" in paper.lines
                assert format_cny(document.payable_cents) in text
            else:
                assert "交班报表 SHIFT SUMMARY" in paper.lines
    cancel_paper = decode(adapter.render(build_ops(cancel, STORE, columns=48, printed_at=PRINTED_AT)))
    assert "退菜 CANCEL" in cancel_paper.lines and "退 凉拌木耳 x1" in cancel_paper.lines
    refund_paper = decode(adapter.render(build_ops(refund, STORE, columns=48, printed_at=PRINTED_AT)))
    assert "退款单 REFUND" in refund_paper.lines and "原因 Reason: 上菜太慢" in refund_paper.lines


def test_the_agents_spooler_prints_the_log_once_on_the_right_printers(dinner, tmp_path):
    tenant, owner, _ = dinner
    events = [StoreEvent.from_dict(e) for e in read_log(owner, tenant.store.id)]
    with VirtualPrinter(port=0, name="front") as front, VirtualPrinter(port=0, name="hot") as hot, \
            VirtualPrinter(port=0, name="cold") as cold:
        config = parse_config({
            "store_id": str(tenant.store.id), "server_url": "http://127.0.0.1:5000", "device_token": "t",
            "data_dir": str(tmp_path), "store": {"name": "老王面馆"},
            "printers": [
                {"name": "front", "type": "network", "address": f"127.0.0.1:{front.port}", "role": "receipt"},
                {"name": "hot", "type": "network", "address": f"127.0.0.1:{hot.port}", "role": "kitchen",
                 "stations": ["hot"]},
                {"name": "cold", "type": "network", "address": f"127.0.0.1:{cold.port}", "role": "kitchen",
                 "stations": ["cold"]},
            ]})
        ledger = PrintLedger(tmp_path / "ledger.sqlite3")
        spooler = PrintSpooler(config, ledger, {p.name: PrinterAdapter(p) for p in config.printers},
                               clock=lambda: PRINTED_AT)
        try:
            outcomes = [[o for e in events if e.document() is not None
                         for o in spooler.submit(PrintRequest.for_document(e.payload))]
                        for _ in range(2)]  # the second pass: a reconnect that reads the log again
            paper = {name: [job.decoded.lines for job in printer.wait_for_jobs(count)]
                     for name, printer, count in (("front", front, 3), ("hot", hot, 3), ("cold", cold, 3))}
        finally:
            ledger.close()
    assert [o.job.state for o in outcomes[0]] == ["printed"] * 9 and not any(o.duplicate for o in outcomes[0])
    assert all(o.duplicate for o in outcomes[1]) and len(outcomes[1]) == 9  # nothing printed twice
    assert [next(line for line in lines if line.endswith(("RECEIPT", "REFUND", "SUMMARY"))) for lines in
            paper["front"]] == ["结账单 RECEIPT", "退款单 REFUND", "交班报表 SHIFT SUMMARY"]
    assert [("加菜 ADD" in lines, "辣椒炒肉 x2" in lines, "退 辣椒炒肉 x1" in lines) for lines in paper["hot"]] == [
        (False, True, False), (True, False, False), (False, False, True)]  # the added dish refunded unserved
    # The kitchen ticket heads its station with the store's name for it, or the code when it has none.
    assert all("【热菜】" in lines for lines in paper["hot"]) and all("【cold】" in lines for lines in paper["cold"])
    assert [("退菜 CANCEL" in lines, "凉拌木耳 x2" in lines) for lines in paper["cold"]] == [
        (False, False), (True, False), (False, True)]  # A12's salad, its cancellation, B3's picks


def test_the_agent_follows_the_real_log_and_its_dispatch_prints_each_document_once(dinner, app, make, tmp_path):
    """The same dinner read by the agent itself: its follower on the server's SSE stream (a live
    WSGI server), its dispatch table, its spooler onto virtual printers. Every printed kind of
    the contract has a handler; every other kind is passed over without holding the cursor; a
    second reading of the whole log prints nothing."""
    from werkzeug.serving import make_server

    from pos_agent.agent import Agent
    from pos_agent.dispatch import PRINT_KINDS
    from pos_agent.follow import CursorStore
    from pos_agent.printing.documents import route_kitchen_ticket
    from tests.agent_support import until

    tenant, owner, _ = dinner
    events = [StoreEvent.from_dict(e) for e in read_log(owner, tenant.store.id)]
    head = events[-1].seq
    _device, token = make.device(tenant, "前台收银机")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with VirtualPrinter(port=0, name="front") as front, VirtualPrinter(port=0, name="hot") as hot, \
            VirtualPrinter(port=0, name="cold") as cold:
        config = parse_config({
            "store_id": str(tenant.store.id), "server_url": f"http://127.0.0.1:{server.server_port}",
            "device_token": token, "data_dir": str(tmp_path), "store": {"name": "老王面馆"},
            "follow": {"backoff_initial_s": 0.05, "backoff_max_s": 0.2},
            "printers": [
                {"name": "front", "type": "network", "address": f"127.0.0.1:{front.port}", "role": "receipt"},
                {"name": "hot", "type": "network", "address": f"127.0.0.1:{hot.port}", "role": "kitchen",
                 "stations": ["hot"]},
                {"name": "cold", "type": "network", "address": f"127.0.0.1:{cold.port}", "role": "kitchen",
                 "stations": ["cold"]},
            ]})
        expected = sorted(
            (document.document_id, document.version, printer.name)
            for document in (e.document() for e in events) if document is not None
            for printer, _part in (route_kitchen_ticket(document, config.printers)
                                   if isinstance(document, KitchenTicket) else [(config.printers[0], None)]))
        try:
            for reading in range(2):  # the second time from seq 0 again: a cursor lost, the log replayed
                cursors = CursorStore(tmp_path / "follow.sqlite3")
                cursors.save(str(tenant.store.id), 0)
                cursors.close()
                agent = Agent(config)
                assert set(PRINT_KINDS) <= set(agent.dispatch.kinds())
                agent.start()
                try:
                    until(lambda a=agent: (a.follow_state().cursor or 0) >= head, "the agent to read the whole log", 30)
                    until(lambda a=agent: not a.ledger.pending()
                          and all(j.state == "printed" for j in a.ledger.recent(100)), "every job sent", 30)
                    until(lambda a=agent: a.follow_state().mode == "stream", "the stream after the catch-up", 30)
                    state = agent.follow_state()
                    jobs = agent.ledger.recent(100)
                finally:
                    agent.stop()
                assert state.online and state.mode == "stream" and state.skipped == 0
                assert sorted((j.document_id, j.version, j.printer) for j in jobs) == expected, reading
                assert {j.state for j in jobs} == {"printed"}
            counts = {name: len(printer.wait_for_jobs(n)) for name, printer, n in
                      (("front", front, 3), ("hot", hot, 3), ("cold", cold, 3))}
            assert counts == {"front": 3, "hot": 3, "cold": 3} and len(expected) == 9
            assert (len(front.jobs), len(hot.jobs), len(cold.jobs)) == (3, 3, 3)  # nothing twice
        finally:
            server.shutdown()
            thread.join(10)
            server.server_close()
