"""WeChat Pay at the till and on the diner's QR code, against the WeChat simulator: settlement,
top-ups and refunds keep every API.md rule for a WeChat tender too."""

import pytest
import sqlalchemy as sa

from app.members.models import LedgerEntry
from app.orders.models import Payment, PaymentKind
from app.payments.models import PaymentRefund, TradeType
from app.payments.state import IntentStatus, RefundState
from tablerules.tenders import TenderType
from tests import wechat_pay_support as support
from tests.wechat_pay_support import Till, key, payment_code

pay_sim, live_url, wechat = support.pay_sim, support.live_url, support.wechat  # the fixtures


@pytest.fixture
def till(make, wechat):
    return Till(make, wechat)


def sim_order(sim, out_trade_no):
    return sim.state.orders[out_trade_no]


# --- payment code scanned at the till (MICROPAY) -------------------------------------------------

def test_payment_code_settles_at_once_with_the_transaction_on_the_payment(till):
    member = till.member()
    order = till.order()
    payable = till.bill(order["id"], member_id=member["id"])["payable_cents"]

    response = till.settle(order["id"], [{"type": "wechat", "amount_cents": payable,
                                          "auth_code": payment_code("0001")}], member_id=member["id"])

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "paid" and body["paid_cents"] == payable and body["change_cents"] == 0
    assert body["points_earned"] > 0
    (intent,) = till.intents()
    assert intent.status is IntentStatus.PAID and intent.trade_type is TradeType.MICROPAY
    assert intent.amount_cents == payable and intent.transaction_id
    (payment,) = till.payments()
    assert payment.tender is TenderType.WECHAT and payment.external_ref == intent.transaction_id
    assert sim_order(till.sim, intent.out_trade_no).state == "SUCCESS"
    assert till.card(member["id"])["points"] == body["points_earned"]


def test_the_same_key_again_answers_the_first_settlement_and_charges_nothing_more(till):
    order = till.order()
    body = {"tenders": [{"type": "wechat", "amount_cents": 15_200, "auth_code": payment_code("0001")}],
            "idempotency_key": key()}
    first = till.api.post(f"/orders/{order['id']}/settle", json=body)
    again = till.api.post(f"/orders/{order['id']}/settle", json=body)
    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()
    assert len(till.intents()) == 1 and len(till.sim.state.orders) == 1


def test_split_tender_cash_and_payment_code(till):
    order = till.order()
    response = till.settle(order["id"], [{"type": "cash", "amount_cents": 5_000},
                                         {"type": "wechat", "amount_cents": 10_200,
                                          "auth_code": payment_code("0001")}])
    assert response.status_code == 200, response.get_json()
    assert {(p.tender, p.amount_cents) for p in till.payments()} == {(TenderType.CASH, 5_000),
                                                                     (TenderType.WECHAT, 10_200)}
    (intent,) = till.intents()
    assert intent.amount_cents == 10_200


def test_not_enough_money_answers_payment_failed_and_changes_nothing(till):
    member = till.member(topup_cents=5_000)
    order = till.order()
    before = till.card(member["id"])

    response = till.settle(order["id"], [{"type": "stored_value", "amount_cents": 5_000},
                                         {"type": "wechat", "amount_cents": 10_200,
                                          "auth_code": payment_code("0002")}], member_id=member["id"])

    assert response.status_code == 402
    error = response.get_json()["error"]
    assert error["code"] == "payment_failed" and error["details"]["provider_code"] == "NOTENOUGH"
    assert till.get_order(order["id"])["status"] == "open"
    assert till.card(member["id"]) == before
    assert till.payments() == []
    (intent,) = till.intents()
    assert intent.status is IntentStatus.FAILED and intent.provider_code == "NOTENOUGH"


def test_expired_code_is_payment_failed(till):
    order = till.order()
    response = till.settle(order["id"], [{"type": "wechat", "amount_cents": 15_200,
                                          "auth_code": payment_code("0005")}])
    assert response.status_code == 402
    assert response.get_json()["error"]["details"]["provider_code"] == "AUTHCODEEXPIRE"


def test_diner_typing_the_password_is_waited_for(till):
    order = till.order()
    response = till.settle(order["id"], [{"type": "wechat", "amount_cents": 15_200,
                                          "auth_code": payment_code("0003")}])
    assert response.status_code == 200, response.get_json()
    (intent,) = till.intents()
    assert intent.status is IntentStatus.PAID
    assert sim_order(till.sim, intent.out_trade_no).queries >= 2


def test_system_error_that_went_through_is_learnt_by_querying(till):
    order = till.order()
    response = till.settle(order["id"], [{"type": "wechat", "amount_cents": 15_200,
                                          "auth_code": payment_code("0007")}])
    assert response.status_code == 200, response.get_json()
    assert till.intents()[0].status is IntentStatus.PAID


def test_password_never_typed_is_reversed_and_the_order_stays_open(till):
    order = till.order()
    response = till.settle(order["id"], [{"type": "wechat", "amount_cents": 15_200,
                                          "auth_code": payment_code("0004")}])

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "payment_not_completed"
    assert till.get_order(order["id"])["status"] == "open"
    assert till.payments() == []
    (intent,) = till.intents()
    assert intent.status is IntentStatus.REVERSED
    assert sim_order(till.sim, intent.out_trade_no).state == "REVOKED"
    # The diner confirming on the phone afterwards cannot pay the reversed trade.
    late = till.sim.app.test_client().post("/_sim/orders/pay", json={"out_trade_no": intent.out_trade_no})
    assert late.status_code == 409
    # A new attempt with another code settles it.
    again = till.settle(order["id"], [{"type": "wechat", "amount_cents": 15_200, "auth_code": payment_code("0001")}])
    assert again.status_code == 200


def test_diner_cancelling_the_password_is_payment_failed(till):
    order = till.order()
    response = till.settle(order["id"], [{"type": "wechat", "amount_cents": 15_200,
                                          "auth_code": payment_code("0006")}])
    assert response.status_code == 402
    assert till.intents()[0].status is IntentStatus.FAILED


def test_a_settle_that_would_fail_anyway_never_charges_the_code(till):
    member = till.member(topup_cents=1_000)
    order = till.order()
    response = till.settle(order["id"], [{"type": "stored_value", "amount_cents": 5_000},
                                         {"type": "wechat", "amount_cents": 10_200,
                                          "auth_code": payment_code("0001")}], member_id=member["id"])
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "insufficient_balance"
    assert till.intents() == [] and till.sim.state.orders == {}


def test_wechat_cannot_give_change(till):
    order = till.order()
    response = till.settle(order["id"], [{"type": "wechat", "amount_cents": 20_000,
                                          "auth_code": payment_code("0001")}])
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "tenders_exceed_total"
    assert till.sim.state.orders == {}


@pytest.mark.parametrize("tender", [
    {"type": "wechat", "amount_cents": 100},
    {"type": "wechat", "amount_cents": 100, "auth_code": payment_code("0001"), "trade_type": "NATIVE"},
    {"type": "wechat", "amount_cents": 100, "trade_type": "JSAPI"},
    {"type": "cash", "amount_cents": 100, "auth_code": payment_code("0001")},
    {"type": "wechat", "amount_cents": 100, "auth_code": "not-a-code"},
])
def test_a_wechat_tender_needs_a_code_or_a_trade_type(till, tender):
    order = till.order()
    response = till.settle(order["id"], [tender])
    assert response.status_code == 422


def test_wechat_pay_down_answers_a_clear_error_and_the_order_stays_open(till):
    order = till.order()
    till.sim.state.start_outage("refuse", seconds=30)
    try:
        response = till.settle(order["id"], [{"type": "wechat", "amount_cents": 15_200,
                                              "auth_code": payment_code("0001")}])
    finally:
        till.sim.state.end_outage()
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "payment_provider_unavailable"
    assert till.get_order(order["id"])["status"] == "open"
    assert till.payments() == []
    (intent,) = till.intents()
    assert intent.status is IntentStatus.PENDING  # unknown: reconciliation reverses whatever happened


def test_wechat_pay_answering_503_is_a_clear_error_too(till):
    order = till.order()
    till.sim.state.start_outage("503", scope="pay")
    try:
        response = till.settle(order["id"], [{"type": "wechat", "amount_cents": 15_200,
                                              "auth_code": payment_code("0001")}])
    finally:
        till.sim.state.end_outage()
    assert response.status_code == 502
    assert response.get_json()["error"]["code"] == "payment_provider_unavailable"
    assert till.get_order(order["id"])["status"] == "open"


def test_merchant_without_wechat_pay(make, wechat):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    from tests.factories import create_dish

    dish = create_dish(make, tenant)
    order = api.post("/orders", json={"store_id": tenant.store.id, "idempotency_key": key(),
                                      "items": [{"dish_id": dish["id"], "qty": 1}]}).get_json()
    response = api.post(f"/orders/{order['id']}/settle", json={
        "tenders": [{"type": "wechat", "amount_cents": 12_800, "auth_code": payment_code("0001")}],
        "idempotency_key": key()})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "wechat_pay_not_configured"


# --- the QR code on the receipt or the till's screen (NATIVE) -------------------------------------

def test_native_qr_is_settled_by_the_notification(till):
    member = till.member(topup_cents=5_000)
    before = till.card(member["id"])
    order = till.order()
    payable = till.bill(order["id"], member_id=member["id"])["payable_cents"]

    response = till.api.post(f"/orders/{order['id']}/wechat-pay", json={
        "trade_type": "NATIVE", "member_id": member["id"], "tenders": [{"type": "stored_value", "amount_cents": 2_000}],
        "idempotency_key": key()})

    assert response.status_code == 201, response.get_json()
    intent = response.get_json()
    assert intent["status"] == "pending" and intent["amount_cents"] == payable - 2_000
    assert intent["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    svg = till.api.get(intent["qr_svg_url"])
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    assert till.get_order(order["id"])["status"] == "open"  # nothing is applied before WeChat says so
    assert till.card(member["id"]) == before

    diner = till.sim.state.create_user("扫码的食客")
    paid = till.sim.app.test_client().post("/_sim/orders/pay", json={"code_url": intent["code_url"],
                                                                      "openid": diner.openid})
    assert paid.status_code == 200, paid.get_json()
    delivery = till.delivered("payment", intent["out_trade_no"])
    assert delivery.state == "delivered"

    assert till.api.get(f"/payments/{intent['intent_id']}").get_json()["status"] == "paid"
    settled = till.get_order(order["id"])
    assert settled["status"] == "paid" and settled["member_id"] == member["id"]
    card = till.card(member["id"])
    assert card["stored_value"]["total_cents"] == before["stored_value"]["total_cents"] - 2_000
    assert card["points"] > 0
    ledger = till.ledger(member["id"])
    assert ledger[0]["order_id"] == order["id"]
    for account, field in (("principal", "principal_cents"), ("bonus", "bonus_cents")):
        latest = next((e["balance_after"] for e in ledger if e["account"] == account), 0)
        assert latest == card["stored_value"][field]
    assert next(e for e in ledger if e["account"] == "points")["balance_after"] == card["points"]
    wechat_payment = next(p for p in till.payments() if p.tender is TenderType.WECHAT)
    (row,) = till.intents()
    assert wechat_payment.external_ref == row.transaction_id and row.openid == diner.openid
    assert wechat_payment.staff_id is not None  # the cashier who showed the code


def test_native_same_key_answers_the_same_trade(till):
    order = till.order()
    body = {"trade_type": "NATIVE", "idempotency_key": key()}
    first = till.api.post(f"/orders/{order['id']}/wechat-pay", json=body)
    again = till.api.post(f"/orders/{order['id']}/wechat-pay", json=body)
    assert first.status_code == again.status_code == 201
    assert first.get_json()["intent_id"] == again.get_json()["intent_id"]
    assert len(till.sim.state.orders) == 1
    reused = till.api.post(f"/orders/{order['id']}/wechat-pay", json={**body, "tenders": [
        {"type": "cash", "amount_cents": 100}]})
    assert reused.status_code == 409 and reused.get_json()["error"]["code"] == "idempotency_key_reused"


def test_native_through_the_settle_call_answers_202(till):
    order = till.order()
    response = till.settle(order["id"], [{"type": "wechat", "amount_cents": 15_200, "trade_type": "NATIVE"}])
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["code_url"]
    wrong = till.settle(order["id"], [{"type": "wechat", "amount_cents": 100, "trade_type": "NATIVE"}])
    assert wrong.status_code == 422


def test_native_for_an_order_that_cannot_be_settled_is_refused_before_wechat_hears_of_it(till):
    order = till.order()
    assert till.settle(order["id"], [{"type": "cash", "amount_cents": 15_200}]).status_code == 200
    response = till.api.post(f"/orders/{order['id']}/wechat-pay", json={"trade_type": "NATIVE",
                                                                        "idempotency_key": key()})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "order_not_open"
    assert till.sim.state.orders == {}


def test_native_while_wechat_pay_is_down(till):
    order = till.order()
    till.sim.state.start_outage("refuse", seconds=30)
    try:
        response = till.api.post(f"/orders/{order['id']}/wechat-pay", json={"trade_type": "NATIVE",
                                                                            "idempotency_key": key()})
    finally:
        till.sim.state.end_outage()
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "payment_provider_unavailable"
    assert till.get_order(order["id"])["status"] == "open"


# --- top-ups ---------------------------------------------------------------------------------

def test_top_up_with_a_payment_code(till):
    member = till.member()
    till.cashier()
    response = till.api.post(f"/members/{member['id']}/topups", json={
        "amount_cents": 100_000, "tender": "wechat", "auth_code": payment_code("0001"), "idempotency_key": key()})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["stored_value"]["principal_cents"] == 100_000
    (intent,) = till.intents()
    assert intent.status is IntentStatus.PAID and intent.member_id == member["id"]
    entries = till.db.session.scalars(sa.select(LedgerEntry).where(LedgerEntry.payment_id == intent.id)).all()
    assert entries and all(e.note == "wechat" for e in entries)
    summary = till.api.get("/shifts/current").get_json()["summary"]
    assert summary["topups_by_tender"] == {"wechat": 100_000} and summary["expected_cash_cents"] == 0


def test_top_up_with_a_failing_code_credits_nothing(till):
    member = till.member()
    response = till.api.post(f"/members/{member['id']}/topups", json={
        "amount_cents": 100_000, "tender": "wechat", "auth_code": payment_code("0002"), "idempotency_key": key()})
    assert response.status_code == 402
    assert till.card(member["id"])["stored_value"]["total_cents"] == 0


def test_top_up_by_qr_code_is_credited_by_the_notification(till):
    member = till.member()
    response = till.api.post(f"/members/{member['id']}/topups", json={
        "amount_cents": 50_000, "tender": "wechat", "trade_type": "NATIVE", "idempotency_key": key()})
    assert response.status_code == 202, response.get_json()
    intent = response.get_json()
    assert intent["kind"] == "topup" and intent["code_url"]
    assert till.card(member["id"])["stored_value"]["total_cents"] == 0

    diner = till.sim.state.create_user("会员")
    till.sim.app.test_client().post("/_sim/orders/pay", json={"code_url": intent["code_url"], "openid": diner.openid})
    till.delivered("payment", intent["out_trade_no"])

    assert till.card(member["id"])["stored_value"]["principal_cents"] == 50_000
    assert till.api.get(f"/payments/{intent['intent_id']}").get_json()["status"] == "paid"


# --- refunds ---------------------------------------------------------------------------------

def test_refund_goes_back_through_wechat_and_the_refund_notification_is_recorded(till):
    member = till.member()
    before = till.card(member["id"])
    order = till.order()
    payable = till.bill(order["id"], member_id=member["id"])["payable_cents"]
    assert till.settle(order["id"], [{"type": "wechat", "amount_cents": payable, "auth_code": payment_code("0001")}],
                       member_id=member["id"]).status_code == 200
    (intent,) = till.intents()

    refund_key = key()
    response = till.api.post(f"/orders/{order['id']}/refund",
                             json={"reason": "菜品问题", "idempotency_key": refund_key})

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "refunded"
    till.send_outbox()  # WeChat Pay hears of the refund after it committed
    (wx_refund,) = till.sim.state.refunds.values()
    assert wx_refund.out_trade_no == intent.out_trade_no and wx_refund.refund_fee == payable
    till.delivered("refund", wx_refund.out_refund_no)
    (row,) = till.db.session.scalars(sa.select(PaymentRefund)).all()
    assert row.state is RefundState.SUCCESS and row.refund_id == wx_refund.refund_id and row.amount_cents == payable
    refund_payment = next(p for p in till.payments() if p.kind is PaymentKind.REFUND)
    assert refund_payment.tender is TenderType.WECHAT and refund_payment.external_ref == row.out_refund_no
    assert till.card(member["id"]) == before
    # The refund notification sent again changes nothing and is acknowledged.
    delivery = till.sim.state.notifications("refund")[0]
    resent = till.sim.app.test_client().post(f"/_sim/notifications/{delivery.id}/resend")
    assert resent.status_code == 202
    till.sim.state.wait_for(lambda s: len(s.notifications("refund")[0].attempts) >= 2, 5)
    assert till.sim.state.notifications("refund")[0].attempts[-1].ok


def test_partial_refunds_by_line_split_over_cash_and_wechat(till):
    order = till.order(None, (till.fish, 2))
    assert till.settle(order["id"], [{"type": "cash", "amount_cents": 12_800},
                                     {"type": "wechat", "amount_cents": 12_800, "auth_code": payment_code("0001")}],
                       ).status_code == 200
    line = order["items"][0]["id"]
    for _ in range(2):
        response = till.api.post(f"/orders/{order['id']}/refund", json={
            "reason": "退一份", "idempotency_key": key(), "lines": [{"line_id": line, "qty": 1}]})
        assert response.status_code == 200, response.get_json()
    till.send_outbox()
    refunds = sorted(r.refund_fee for r in till.sim.state.refunds.values())
    assert refunds == [6_400, 6_400]
    assert till.get_order(order["id"])["status"] == "refunded"
    cash_back = sum(p.amount_cents for p in till.payments()
                    if p.kind is PaymentKind.REFUND and p.tender is TenderType.CASH)
    assert cash_back == 12_800


def _refund_rows():
    from app.db import db

    return db.session.scalars(sa.select(PaymentRefund).order_by(PaymentRefund.id)).all()


def _outbox_messages(kind):
    from app.db import db
    from app.outbox.models import OutboxMessage

    return db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == kind)).all()


def test_a_refund_is_recorded_and_committed_before_wechat_pay_hears_of_it(till):
    member = till.member()
    before = till.card(member["id"])
    order = till.order()
    payable = till.bill(order["id"], member_id=member["id"])["payable_cents"]
    assert till.settle(order["id"], [{"type": "wechat", "amount_cents": payable, "auth_code": payment_code("0001")}],
                       member_id=member["id"]).status_code == 200

    response = till.api.post(f"/orders/{order['id']}/refund", json={"reason": "退单", "idempotency_key": key()})

    assert response.status_code == 200 and response.get_json()["status"] == "refunded"
    till.fresh()
    assert till.sim.state.refunds == {}  # nothing was asked inside the refund's transaction
    (row,) = _refund_rows()
    assert row.state is RefundState.PROCESSING and row.amount_cents == payable and row.refund_id is None
    refund_payment = next(p for p in till.payments() if p.kind is PaymentKind.REFUND)
    assert refund_payment.external_ref == row.out_refund_no
    assert till.card(member["id"]) == before  # the ledger entries committed with it
    (message,) = _outbox_messages("payments.refund")
    assert message.payload["refund_id"] == row.id

    assert till.send_outbox().sent >= 1
    (wx_refund,) = till.sim.state.refunds.values()
    assert (wx_refund.out_refund_no, wx_refund.refund_fee) == (row.out_refund_no, payable)
    till.delivered("refund", row.out_refund_no)
    (row,) = _refund_rows()
    assert row.state is RefundState.SUCCESS and row.refund_id == wx_refund.refund_id


def test_wechat_pay_refusing_and_timing_out_during_a_refund_loses_nothing_and_doubles_nothing(till, app):
    from datetime import timedelta

    from app.db import begin_write, db, utcnow
    from app.outbox.models import OutboxMessage, OutboxStatus
    from app.payments.reconcile import reconcile_pending

    order = till.order()
    assert till.settle(order["id"], [{"type": "wechat", "amount_cents": 15_200,
                                      "auth_code": payment_code("0001")}]).status_code == 200
    (intent,) = till.intents()

    # WeChat Pay refuses connections: the refund is recorded all the same, and waits.
    till.sim.state.start_outage("refuse", seconds=60)
    try:
        response = till.api.post(f"/orders/{order['id']}/refund", json={"reason": "退单", "idempotency_key": key()})
        assert response.status_code == 200 and response.get_json()["status"] == "refunded"
        now = utcnow()
        report = till.send_outbox(now)
    finally:
        till.sim.state.end_outage()
    assert report.retried == 1 and till.sim.state.refunds == {}
    (message,) = _outbox_messages("payments.refund")
    assert message.status is OutboxStatus.PENDING and "Unavailable" in message.last_error

    # Then it answers too late: the request times out and is asked again later.
    app.config["WECHAT_TIMEOUT_SECONDS"] = 1
    till.sim.state.start_outage("timeout", scope="pay", delay=2)
    try:
        report = till.send_outbox(now + timedelta(minutes=1))
    finally:
        till.sim.state.end_outage()
    assert report.retried == 1 and till.sim.state.refunds == {}
    (row,) = _refund_rows()
    assert row.state is RefundState.PROCESSING
    assert till.get_order(order["id"])["status"] == "refunded"

    # Back again: the refund goes through once.
    app.config["WECHAT_TIMEOUT_SECONDS"] = 3
    assert till.send_outbox(now + timedelta(hours=1)).sent == 1
    (wx_refund,) = till.sim.state.refunds.values()
    assert wx_refund.out_trade_no == intent.out_trade_no and wx_refund.refund_fee == 15_200

    till.delivered("refund", wx_refund.out_refund_no)
    (row,) = _refund_rows()
    assert row.state is RefundState.SUCCESS and row.refund_id == wx_refund.refund_id

    # A worker that died after WeChat Pay took the refund, before anything was recorded, sends it
    # again: the same out_refund_no, so WeChat Pay answers the same refund.
    db.session.commit()
    begin_write()
    db.session.execute(sa.update(PaymentRefund).values(state=RefundState.PROCESSING, refund_id=None, finished_at=None))
    db.session.execute(sa.update(OutboxMessage).where(OutboxMessage.kind == "payments.refund")
                       .values(status=OutboxStatus.PENDING, next_attempt_at=now))
    db.session.commit()
    assert till.send_outbox(now + timedelta(hours=2)).sent == 1
    assert len(till.sim.state.refunds) == 1
    (row,) = _refund_rows()
    assert row.state is RefundState.PROCESSING and row.refund_id == wx_refund.refund_id
    # Its notification was sent before; reconciliation's query completes it.
    assert reconcile_pending(utcnow() + timedelta(minutes=5), actor=till.system) == {"refund_done": 1}
    (row,) = _refund_rows()
    assert row.state is RefundState.SUCCESS
    assert len(till.sim.state.refunds) == 1
    assert [(p.tender, p.kind, p.amount_cents) for p in till.payments()] == [
        (TenderType.WECHAT, PaymentKind.CHARGE, 15_200), (TenderType.WECHAT, PaymentKind.REFUND, 15_200)]


def test_reconciliation_asks_again_for_a_refund_wechat_pay_never_received(till):
    from datetime import timedelta

    from app.db import db, utcnow
    from app.outbox.models import OutboxStatus
    from app.payments.reconcile import reconcile_pending

    order = till.order()
    assert till.settle(order["id"], [{"type": "wechat", "amount_cents": 15_200,
                                      "auth_code": payment_code("0001")}]).status_code == 200
    assert till.api.post(f"/orders/{order['id']}/refund",
                         json={"reason": "退单", "idempotency_key": key()}).status_code == 200
    # Every retry of the outbox used up (a long outage): the message is dead.
    (message,) = _outbox_messages("payments.refund")
    message.status = OutboxStatus.DEAD
    db.session.commit()

    assert reconcile_pending(utcnow(), actor=till.system) == {}  # too early
    assert reconcile_pending(utcnow() + timedelta(minutes=5), actor=till.system) == {"refund_asked": 1}
    (wx_refund,) = till.sim.state.refunds.values()
    till.delivered("refund", wx_refund.out_refund_no)
    (row,) = _refund_rows()
    assert row.state is RefundState.SUCCESS
    assert reconcile_pending(utcnow() + timedelta(minutes=5), actor=till.system) == {}
    assert len(till.sim.state.refunds) == 1


def test_reconciliation_learns_how_a_refund_ended_when_its_notification_never_came(till, app):
    from datetime import timedelta

    from app.db import utcnow
    from app.payments.reconcile import reconcile_pending

    order = till.order()
    assert till.settle(order["id"], [{"type": "wechat", "amount_cents": 15_200,
                                      "auth_code": payment_code("0001")}]).status_code == 200
    assert till.api.post(f"/orders/{order['id']}/refund",
                         json={"reason": "退单", "idempotency_key": key()}).status_code == 200
    app.config["PUBLIC_BASE_URL"] = "http://127.0.0.1:9"  # the refund notification goes nowhere
    till.send_outbox()
    (wx_refund,) = till.sim.state.refunds.values()
    assert till.delivered("refund", wx_refund.out_refund_no).state == "failed"
    (row,) = _refund_rows()
    assert row.state is RefundState.PROCESSING

    assert reconcile_pending(utcnow() + timedelta(minutes=5), actor=till.system) == {"refund_done": 1}
    (row,) = _refund_rows()
    assert row.state is RefundState.SUCCESS and row.refund_id == wx_refund.refund_id
    assert reconcile_pending(utcnow() + timedelta(minutes=5), actor=till.system) == {}
    assert len(till.sim.state.refunds) == 1


def test_a_refund_wechat_pay_refuses_for_good_is_marked_failed_and_audited(till):
    from app.audit.models import AuditEntry
    from app.db import db
    from app.payments.providers import provider_for

    order = till.order()
    assert till.settle(order["id"], [{"type": "wechat", "amount_cents": 15_200,
                                      "auth_code": payment_code("0001")}]).status_code == 200
    (intent,) = till.intents()
    out_trade_no = intent.out_trade_no
    # Someone refunded the whole trade in WeChat Pay's merchant platform meanwhile.
    provider = provider_for(till.tenant.merchant.id)
    db.session.commit()
    provider.refund(out_trade_no=out_trade_no, out_refund_no="RF-BY-HAND", total_cents=15_200,
                    refund_cents=15_200, reason="", notify_url="")
    assert till.api.post(f"/orders/{order['id']}/refund",
                         json={"reason": "退单", "idempotency_key": key()}).status_code == 200

    report = till.send_outbox()

    assert report.failed == 1 and len(till.sim.state.refunds) == 1
    (row,) = _refund_rows()
    assert row.state is RefundState.FAILED and row.provider_code == "ERROR"
    audit = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "payment.refund_failed")).all()
    assert [(a.object_id, a.details["amount_cents"]) for a in audit] == [(row.id, 15_200)]


def test_no_provider_call_runs_inside_an_open_transaction(till):
    from app.db import db
    from app.payments.providers import TransactionOpen, provider_for

    provider = provider_for(till.tenant.merchant.id)  # read the account: a transaction is open now
    with pytest.raises(TransactionOpen):
        provider.query("TL-NO-SUCH-TRADE")
    db.session.commit()
    assert provider.query("TL-NO-SUCH-TRADE").status.value == "not_found"


def test_refund_retried_with_the_same_key_asks_wechat_for_the_same_refund(till):
    order = till.order()
    assert till.settle(order["id"], [{"type": "wechat", "amount_cents": 15_200,
                                      "auth_code": payment_code("0001")}]).status_code == 200
    body = {"reason": "退单", "idempotency_key": key()}
    first = till.api.post(f"/orders/{order['id']}/refund", json=body)
    till.send_outbox()
    again = till.api.post(f"/orders/{order['id']}/refund", json=body)
    till.send_outbox()
    assert first.get_json() == again.get_json()
    assert len(till.sim.state.refunds) == 1
    assert till.db.session.scalar(sa.select(sa.func.count()).select_from(Payment)
                                  .where(Payment.kind == PaymentKind.REFUND)) == 1


# --- the diner's bill page (JSAPI); the browser test pays through it --------------------------------

def _diner_table(till):
    from app.tables.models import DiningTable
    from app.tables.service import table_token

    table = till.table()
    return table, table_token(till.db.session.get(DiningTable, table["id"]))


def _sign_in(client, openid, merchant_id):
    with client.session_transaction() as session:
        session["wechat_openid"], session["wechat_merchant_id"] = openid, merchant_id


def test_bill_page_signs_the_diner_in_then_shows_the_priced_bill(till):
    table, token = _diner_table(till)
    order = till.order(table)
    first = till.make.client.get(f"/t/{token}/bill?order={order['id']}")
    assert first.status_code == 302 and "/wechat/oauth/start" in first.headers["Location"]
    _sign_in(till.make.client, "o_bill_reader", till.tenant.merchant.id)
    page = till.make.client.get(f"/t/{token}/bill?order={order['id']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "剁椒鱼头" in html and "￥152.00" in html
    assert till.make.client.get(f"/t/{token}/bill?order=999999").status_code == 404
    other_table, other_token = _diner_table(till)
    assert till.make.client.get(f"/t/{other_token}/bill?order={order['id']}").status_code == 404
    assert till.make.client.get(f"/t/not-a-token/bill?order={order['id']}").status_code == 404


def test_diner_payment_needs_the_diners_wechat_sign_in(till):
    table, token = _diner_table(till)
    order = till.order(table)
    url = f"/api/v1/diner/tables/{token}/wechat-pay"
    response = till.make.client.post(url, json={"order_id": order["id"]})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "wechat_login_required"
    diner = till.sim.state.create_user("食客")
    _sign_in(till.make.client, diner.openid, till.tenant.merchant.id + 1)  # another merchant's account
    assert till.make.client.post(url, json={"order_id": order["id"]}).status_code == 401
    assert till.intents() == []


def test_diner_payment_answers_the_jsapi_parameters_and_the_same_trade_on_a_second_tap(till):
    member = till.member()
    table, token = _diner_table(till)
    order = till.order(table)
    diner = till.sim.state.create_user("会员食客")
    from app.members.models import Member

    till.db.session.get(Member, member["id"]).openid = diner.openid
    till.db.session.commit()
    _sign_in(till.make.client, diner.openid, till.tenant.merchant.id)
    url = f"/api/v1/diner/tables/{token}/wechat-pay"

    first = till.make.client.post(url, json={"order_id": order["id"]})
    again = till.make.client.post(url, json={"order_id": order["id"]})

    assert first.status_code == again.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["intent_id"] == again.get_json()["intent_id"] and body["status"] == "pending"
    assert body["amount_cents"] == till.bill(order["id"], member_id=member["id"])["payable_cents"]  # member price
    assert body["jsapi"]["package"].startswith("prepay_id=") and body["jsapi"]["paySign"]
    (intent,) = till.intents()
    assert intent.trade_type is TradeType.JSAPI and intent.member_id == member["id"]
    assert intent.openid == diner.openid
    status = till.make.client.get(f"{url}/{body['intent_id']}")
    assert status.status_code == 200 and status.get_json()["order_status"] == "open"
    # The browser's word is not a payment: only WeChat Pay's notification settles the order.
    assert till.get_order(order["id"])["status"] == "open"
    _sign_in(till.make.client, "o_someone_else", till.tenant.merchant.id)
    assert till.make.client.get(f"{url}/{body['intent_id']}").status_code == 404


def test_diner_cannot_pay_a_paid_order(till):
    table, token = _diner_table(till)
    order = till.order(table)
    assert till.settle(order["id"], [{"type": "cash", "amount_cents": 15_200}]).status_code == 200
    diner = till.sim.state.create_user("食客")
    _sign_in(till.make.client, diner.openid, till.tenant.merchant.id)
    response = till.make.client.post(f"/api/v1/diner/tables/{token}/wechat-pay", json={"order_id": order["id"]})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "order_not_open"
    page = till.make.client.get(f"/t/{token}/bill?order={order['id']}").get_data(as_text=True)
    assert 'id="paid"' in page and 'id="wechat-pay"' not in page
