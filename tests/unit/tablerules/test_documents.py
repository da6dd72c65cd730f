"""The document contract without a server or a printer: every type survives its own JSON, and
bad data is refused with the path of the first bad field."""

import json

import pytest

from tablerules import documents as contract
from tablerules.documents import (
    ActorRef,
    DocumentError,
    KitchenTicket,
    MemberSummary,
    OrderItem,
    OrderPaid,
    OrderRefunded,
    OrderSubmitted,
    PricingStep,
    Receipt,
    ReceiptItem,
    RefundedLine,
    SaleItem,
    ShiftSummary,
    StoreEvent,
    StoreHeader,
    TenderAmount,
    TenderLine,
    TillSale,
    event_from_sse,
    parse_document,
    steps_from_bill,
)
from tablerules.pricing import BillStep

RECEIPT = Receipt(
    document_id="receipt-7", order_no="7", order_id=7, payable_cents=6600,
    items=(ReceiptItem(name="红烧牛肉面", qty=2, amount_cents=5600, unit_price_cents=2800, options=("加辣",)),
           ReceiptItem(name="馄饨", name_en="Wonton", qty=1, amount_cents=1800)),
    steps=(PricingStep("subtotal", 7400, "小计", "Subtotal"), PricingStep("rounding", -800)),
    tenders=(TenderLine("cash", 10000),), change_cents=3400, table="A12", cashier="王芳",
    paid_at="2024-05-01T04:30:00+00:00",
    member=MemberSummary(name="李雷", member_no="M0001", tier="金卡", points_earned=66, points_balance=1296,
                         balance_cents=52000),
    store=StoreHeader("老王面馆", "漕溪北路88号", "021-55550188"))
REFUND = Receipt(kind="refund", document_id="refund-7-abc", order_no="7", payable_cents=6600,
                 items=RECEIPT.items, refunded_cents=1800, refunded_at="2024-05-01T05:00:00+00:00", reason="上错菜")
TICKET = KitchenTicket(
    document_id="ticket-3", ticket_no="3", order_no="7", ticket_id=3, order_id=7, station="hot", table="A12",
    created_at="2024-05-01T04:00:00+00:00", mark="add",
    items=(OrderItem(name="宫保鸡丁", qty=2, station="hot", line_id=11, dish_id=5, options=("微辣",),
                     note="不要花生", unit_price_cents=3800, added_by="张三", status="cooking"),))
SHIFT = ShiftSummary(
    document_id="shift-1", shift_no="1", cashier="王芳", opened_at="2024-05-01T01:00:00+00:00",
    closed_at="2024-05-01T09:00:00+00:00", sales_count=2, sales_cents=13800,
    sales_by_tender=(TenderAmount("cash", 8800), TenderAmount("stored_value", 5000)),
    refunds_cents=2000, refunds_by_tender=(TenderAmount("cash", 2000),),
    topups_by_tender=(TenderAmount("cash", 50000),),
    voids=1, void_cents=800, opening_float_cents=20000, expected_cash_cents=76800, counted_cash_cents=76700,
    difference_cents=-100)
SALE = TillSale(
    client_order_id="6f1c1a52-3f7e-4a43-9d6c-4c4a3c9c2b11", order_no="A-0012",
    items=(SaleItem(dish_id=5, qty=2, option_ids=(9,), note="少辣"),), member_id=3,
    tenders=(TenderLine("stored_value", 3000), TenderLine("cash", 5000)), idempotency_key="till-1-0000012",
    occurred_at="2024-05-01T12:30:00+08:00", actor=ActorRef(staff_id=2, device_id=1, name="王芳"), payable_cents=7600)


@pytest.mark.parametrize("value", [RECEIPT, REFUND, TICKET, SHIFT], ids=lambda v: v.kind)
def test_every_document_survives_its_json(value):
    data = json.loads(json.dumps(value.to_dict(), ensure_ascii=False))
    assert parse_document(data) == value
    assert type(value).from_dict(data) == value
    assert data["kind"] == value.kind and data["contract"] == contract.CONTRACT_VERSION


def test_one_vocabulary_on_the_wire():
    assert RECEIPT.to_dict()["items"][0]["qty"] == 2 and "quantity" not in RECEIPT.to_dict()["items"][0]
    assert RECEIPT.to_dict()["tenders"] == [{"type": "cash", "amount_cents": 10000, "label": "", "reference": ""}]
    assert SHIFT.to_dict()["sales_by_tender"] == {"cash": 8800, "stored_value": 5000}


@pytest.mark.parametrize(
    "payload",
    [
        OrderSubmitted(order_id=7, table="A12", items=TICKET.items),
        OrderPaid(order_id=7, payable_cents=6600, table="A12"),
        OrderRefunded(order_id=7, refunded_cents=1800, total_refunded_cents=1800, reason="上错菜",
                      lines=(RefundedLine(11, 1),)),
    ],
    ids=lambda p: type(p).__name__,
)
def test_sync_payloads_survive_their_json(payload):
    assert type(payload).from_dict(json.loads(json.dumps(payload.to_dict()))) == payload


def test_till_sale_survives_its_json():
    assert TillSale.from_dict(json.loads(json.dumps(SALE.to_dict()))) == SALE


def _event(kind, payload, seq=5):
    return {"seq": seq, "kind": kind, "order_id": 7, "created_at": "2024-05-01T04:00:00+00:00", "payload": payload}


def test_the_event_envelope_reads_its_payload_by_kind():
    event = StoreEvent.from_dict(_event("ticket_new", TICKET.to_dict()))
    assert event.body == TICKET and event.document() == TICKET and event.is_printed
    assert StoreEvent.from_dict(_event("print_job", SHIFT.to_dict())).document() == SHIFT
    bumped = StoreEvent.from_dict(_event("ticket_bumped", TICKET.to_dict()))
    assert bumped.body == TICKET and bumped.document() is None  # the kitchen screen's business, not paper
    paid = StoreEvent.from_dict(_event("order_paid", {"order_id": 7, "payable_cents": 6600, "table": "A12"}))
    assert paid.body == OrderPaid(7, 6600, "A12") and paid.document() is None
    assert StoreEvent.from_dict(event.to_dict()) == event


def test_kinds_newer_than_the_contract_are_kept_raw_for_the_reader_to_skip():
    event = StoreEvent.from_dict(_event("table_moved", {"from": "A1", "to": "A2"}))
    assert event.body is None and event.payload == {"from": "A1", "to": "A2"} and not event.is_printed


def test_a_bad_payload_is_named_inside_the_envelope():
    bad = TICKET.to_dict()
    bad["items"][0]["qty"] = "2"
    with pytest.raises(DocumentError) as info:
        StoreEvent.from_dict(_event("ticket_new", bad))
    assert info.value.field == "payload.items[0].qty"


def test_sse_messages_are_read_and_checked_against_their_json():
    data = json.dumps(_event("print_job", RECEIPT.to_dict(), seq=12), ensure_ascii=False)
    event = event_from_sse(f"id: 12\nevent: print_job\ndata: {data}\n")
    assert event is not None and event.seq == 12 and event.document() == RECEIPT
    assert event_from_sse(": heartbeat\n") is None
    assert event_from_sse("retry: 3000\n") is None
    with pytest.raises(DocumentError) as info:
        event_from_sse(f"id: 13\nevent: print_job\ndata: {data}\n")
    assert info.value.field == "id"
    with pytest.raises(DocumentError) as info:
        event_from_sse(f"id: 12\nevent: ticket_new\ndata: {data}\n")
    assert info.value.field == "event"


def test_the_priced_bill_prints_without_its_closing_payable_step():
    steps = [BillStep("subtotal", "小计", "Subtotal", 7400), BillStep("rounding", "抹零", "Rounding (to jiao)", -40),
             BillStep("payable", "应付", "Payable", 7360)]
    assert steps_from_bill(steps) == (PricingStep("subtotal", 7400, "小计", "Subtotal"),
                                      PricingStep("rounding", -40, "抹零", "Rounding (to jiao)"))


def test_a_newer_contract_is_refused_rather_than_printed_wrong():
    with pytest.raises(DocumentError) as info:
        parse_document({**RECEIPT.to_dict(), "contract": contract.CONTRACT_VERSION + 1})
    assert info.value.field == "contract"


def test_unknown_fields_are_ignored_so_either_side_may_add_one():
    assert parse_document({**TICKET.to_dict(), "course": 2}) == TICKET


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "menu"}, "kind"),
        ({"document_id": ""}, "document_id"),
        ({"order_no": None}, "order_no"),
        ({"items": []}, "items"),
        ({"items": [{"name": "面", "qty": 1.0, "amount_cents": 100}]}, "items[0].qty"),
        ({"payable_cents": 66.0}, "payable_cents"),
        ({"tenders": [{"amount_cents": 100}]}, "tenders[0].type"),
        ({"change_cents": -1}, "change_cents"),
        ({"paid_at": "yesterday"}, "paid_at"),
        ({"member": "李雷"}, "member"),
        ({"kind": "refund", "refunded_cents": 0}, "refunded_cents"),
        ({"is_reprint": "yes"}, "is_reprint"),
    ],
)
def test_a_bad_receipt_names_its_first_bad_field(change, field):
    with pytest.raises(DocumentError) as info:
        Receipt.from_dict({**RECEIPT.to_dict(), **change})
    assert info.value.field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ticket_no": ""}, "ticket_no"),
        ({"mark": "urgent"}, "mark"),
        ({"status": "lost"}, "status"),
        ({"created_at": None}, "created_at"),
        ({"station": "", "items": [{"name": "面", "qty": 1}]}, "items[0].station"),
        ({"items": [{"name": "面", "qty": 0, "station": "hot"}]}, "items[0].qty"),
        ({"items": [{"name": "面", "qty": 1, "options": [{"name": "辣"}]}]}, "items[0].options"),
    ],
)
def test_a_bad_ticket_names_its_first_bad_field(change, field):
    with pytest.raises(DocumentError) as info:
        KitchenTicket.from_dict({**TICKET.to_dict(), **change})
    assert info.value.field == field


def test_a_ticket_item_takes_the_tickets_station_when_it_names_none():
    data = {**TICKET.to_dict(), "items": [{"name": "面", "qty": 1}]}
    assert KitchenTicket.from_dict(data).items[0].station == "hot"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sales_by_tender": {"cash": "88.00"}}, "sales_by_tender.cash"),
        ({"sales_by_tender": [["cash", 8800]]}, "sales_by_tender"),
        ({"cashier": ""}, "cashier"),
        ({"sales_count": -1}, "sales_count"),
    ],
)
def test_a_bad_shift_summary_names_its_first_bad_field(change, field):
    with pytest.raises(DocumentError) as info:
        ShiftSummary.from_dict({**SHIFT.to_dict(), **change})
    assert info.value.field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"client_order_id": "12"}, "client_order_id"),
        ({"idempotency_key": "short"}, "idempotency_key"),
        ({"tenders": []}, "tenders"),
        ({"tenders": [{"type": "bitcoin", "amount_cents": 100}]}, "tenders[0].type"),
        ({"tenders": [{"type": "cash", "amount_cents": 0}]}, "tenders[0].amount_cents"),
        ({"items": [{"dish_id": 5, "qty": 1, "option_ids": [0]}]}, "items[0].option_ids[0]"),
        ({"occurred_at": "2024-05-01T12:30:00"}, "occurred_at"),  # a till's clock time needs its offset
        ({"actor": None}, "actor"),
        ({"member_id": "3"}, "member_id"),
    ],
)
def test_a_bad_till_sale_names_its_first_bad_field(change, field):
    with pytest.raises(DocumentError) as info:
        TillSale.from_dict({**SALE.to_dict(), **change})
    assert info.value.field == field


def test_parse_document_checks_a_kind_given_beside_the_document():
    data = RECEIPT.to_dict()
    assert parse_document(data, "receipt") == RECEIPT
    del data["kind"]
    assert parse_document(data, "receipt") == RECEIPT
    with pytest.raises(DocumentError) as info:
        parse_document(RECEIPT.to_dict(), "kitchen_ticket")
    assert info.value.field == "kind"


# --- the top-up slip -------------------------------------------------------------------------------

TOPUP = contract.TopUpSlip(
    document_id="topup-41", topup_no="41", topup_id=41,
    member=MemberSummary(name="李雷", phone="139****1111", member_no="0000000007", tier="银卡", points_balance=120),
    amount_cents=50000, bonus_cents=5000, tender="cash",
    stored_value=contract.StoredValueBalance(principal_cents=60000, bonus_cents=5000, total_cents=65000),
    topped_up_at="2024-05-01T04:30:00+00:00", rule="充500送50", rule_en="top up 500, get 50 more", cashier="王芳",
    store=StoreHeader("老王面馆"))


def test_a_top_up_slip_survives_its_json_and_is_a_printed_document():
    data = json.loads(json.dumps(TOPUP.to_dict(), ensure_ascii=False))
    assert data["kind"] == "topup" and "topup" in contract.DOCUMENT_KINDS
    assert parse_document(data) == TOPUP and parse_document(data, "topup") == TOPUP
    assert data["stored_value"] == {"principal_cents": 60000, "bonus_cents": 5000, "total_cents": 65000}
    assert TOPUP.credited_cents == 55000
    event = StoreEvent.from_dict(_event("print_job", data))
    assert event.document() == TOPUP


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount_cents": 0}, "amount_cents"),
        ({"amount_cents": 500.0}, "amount_cents"),  # yuan sent as a float
        ({"bonus_cents": -1}, "bonus_cents"),
        ({"member": None}, "member"),
        ({"stored_value": None}, "stored_value"),
        ({"stored_value": {"principal_cents": 60000, "bonus_cents": 5000, "total_cents": 60000}},
         "stored_value.total_cents"),
        ({"tender": ""}, "tender"),
        ({"topped_up_at": "yesterday"}, "topped_up_at"),
        ({"kind": "receipt"}, "kind"),
    ],
)
def test_a_bad_top_up_slip_names_its_first_bad_field(change, field):
    with pytest.raises(DocumentError) as info:
        contract.TopUpSlip.from_dict({**TOPUP.to_dict(), **change})
    assert info.value.field == field
