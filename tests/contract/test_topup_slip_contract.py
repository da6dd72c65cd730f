"""The top-up slip as the server writes it in its answer, read by the agent's parser and laid out
by its printing: one contract on both ends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pos_agent.config import PrinterConfig, StoreInfo
from pos_agent.printing.adapter import PrinterAdapter
from pos_agent.printing.documents import build_ops
from simulators.printer import decode
from tablerules.documents import TopUpSlip, parse_document
from tests.factories import create_member

PRINTED_AT = datetime(2024, 5, 1, 4, 31, 5, tzinfo=UTC)


def test_the_top_up_answer_carries_the_slip_the_agent_prints(make, db):
    tenant = make.tenant()
    owner, cashier = make.api(tenant.owner), make.api(make.staff(tenant, "cashier"))
    member = create_member(make, tenant, phone="13900001111", name="李雷")
    owner.request("PUT", "/topup-rules", json={"rules": [{"min_cents": 10_000, "bonus_cents": 2_000,
                                                          "is_repeat": True}]})
    body = {"amount_cents": 35_000, "tender": "cash", "idempotency_key": uuid.uuid4().hex}
    response = cashier.post(f"/members/{member['id']}/topups", json=body)
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()

    slip = parse_document(answer["slip"])
    assert isinstance(slip, TopUpSlip) and slip.kind == "topup"
    assert slip.document_id == f"topup-{answer['topup_id']}" and slip.topup_id == answer["topup_id"]
    assert (slip.amount_cents, slip.bonus_cents, slip.tender) == (35_000, 6_000, "cash")  # 每充100送20, 3 times
    assert (slip.rule, slip.rule_en) == ("每充100送20", "top up 100 (each time), get 20 more")
    assert slip.stored_value.to_dict() == answer["stored_value"]
    assert (slip.member.name, slip.member.phone, slip.member.member_no) == ("李雷", "139****1111", member["member_no"])
    assert slip.cashier and slip.topped_up_at.endswith("+00:00")
    assert slip.store is not None and slip.store.name == tenant.store.name

    # The same key again: the stored answer, the same slip (the agent's ledger prints it once).
    replay = cashier.post(f"/members/{member['id']}/topups", json=body)
    assert replay.status_code == 201 and replay.get_json()["slip"] == answer["slip"]

    adapter = PrinterAdapter(PrinterConfig(name="p", type="file", address="/dev/null", role="receipt",
                                           profile="TM-T20II"))
    for columns in (32, 48):
        paper = decode(adapter.render(build_ops(slip, StoreInfo(name=""), columns=columns, printed_at=PRINTED_AT)))
        assert paper.cuts == 1 and not paper.unknown
        rows = [" ".join(row.split()) for row in paper.lines]
        assert rows[0] == tenant.store.name and "活动 Offer: 每充100送20" in rows
        assert "充值 Paid ￥350.00" in rows and "赠送 Bonus ￥60.00" in rows


def test_a_top_up_that_meets_no_rule_says_no_offer(make, db):
    tenant = make.tenant()
    cashier = make.api(make.staff(tenant, "cashier"))
    member = create_member(make, tenant)
    answer = cashier.post(f"/members/{member['id']}/topups", json={
        "amount_cents": 100, "tender": "cash", "idempotency_key": uuid.uuid4().hex}).get_json()
    slip = TopUpSlip.from_dict(answer["slip"])
    assert (slip.bonus_cents, slip.rule) == (0, "")
    assert slip.stored_value.total_cents == answer["stored_value"]["total_cents"]
