"""WeChat Pay's notifications and the reconciliation: only a verified payment of the right amount
for this merchant's pending trade is applied, once; money that cannot be applied goes back."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.db import utcnow
from app.orders.models import PaymentKind
from app.payments.models import IntentKind, PaymentIntent, PaymentRefund, TradeType
from app.payments.reconcile import reconcile_pending
from app.payments.state import IntentStatus
from simulators.wechat import DEMO_APPID, DEMO_MCH_ID
from tablerules.tenders import TenderType
from tests import wechat_pay_support as support
from tests.wechat_pay_support import Till, add_wechat_settings, key, signed_notification

pay_sim, live_url, wechat = support.pay_sim, support.live_url, support.wechat  # the fixtures

OTHER_APPID, OTHER_MCH_ID, OTHER_KEY = "wx_other_merchant", "1900000999", "otherkeyotherkeyotherkeyotherke1"


@pytest.fixture
def till(make, wechat):
    return Till(make, wechat)


def native(till, order_id, **extra):
    response = till.api.post(f"/orders/{order_id}/wechat-pay", json={"trade_type": "NATIVE",
                                                                      "idempotency_key": key(), **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def notify(till, body: bytes):
    response = till.make.client.post("/payments/wechat/notify", data=body, content_type="text/xml")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def fields_for(intent: dict, **changes) -> dict:
    return {"appid": DEMO_APPID, "mch_id": DEMO_MCH_ID, "nonce_str": key()[:16], "result_code": "SUCCESS",
            "return_code": "SUCCESS", "openid": "o_forger", "trade_type": "NATIVE", "bank_type": "OTHERS",
            "fee_type": "CNY", "total_fee": intent["amount_cents"], "cash_fee": intent["amount_cents"],
            "transaction_id": "4200000000" + key()[:18], "out_trade_no": intent["out_trade_no"],
            "time_end": "20261124120000", **changes}


def unchanged(till, order_id, intent_id):
    (row,) = [i for i in till.intents() if i.id == intent_id]
    assert row.status is IntentStatus.PENDING and row.transaction_id is None
    assert till.get_order(order_id)["status"] == "open"
    assert till.payments() == []


def test_forged_notification_is_refused(till):
    order = till.order()
    intent = native(till, order["id"])
    answer = notify(till, signed_notification(fields_for(intent), api_key="forgedkeyforgedkeyforgedkeyforge"))
    assert "FAIL" in answer and "signature" in answer
    unchanged(till, order["id"], intent["intent_id"])


def test_notification_with_a_changed_amount_is_refused(till):
    order = till.order()
    intent = native(till, order["id"])
    real = signed_notification(fields_for(intent))
    tampered = real.replace(f"<total_fee>{intent['amount_cents']}</total_fee>".encode(), b"<total_fee>1</total_fee>")
    assert tampered != real
    assert "FAIL" in notify(till, tampered)  # the signature no longer verifies
    resigned = signed_notification(fields_for(intent, total_fee=1, cash_fee=1))
    answer = notify(till, resigned)  # signed with the key, but not the amount asked for
    assert "FAIL" in answer and "amount" in answer
    unchanged(till, order["id"], intent["intent_id"])


def test_replayed_notification_changes_nothing_and_is_acknowledged(till):
    member = till.member()
    order = till.order()
    intent = native(till, order["id"], member_id=member["id"])
    diner = till.sim.state.create_user("食客")
    till.sim.app.test_client().post("/_sim/orders/pay", json={"code_url": intent["code_url"], "openid": diner.openid})
    delivery = till.delivered("payment", intent["out_trade_no"])
    card, payments = till.card(member["id"]), till.payments()
    assert till.get_order(order["id"])["status"] == "paid" and len(payments) == 1

    assert "SUCCESS" in notify(till, delivery.body.encode("utf-8"))
    till.sim.app.test_client().post(f"/_sim/notifications/{delivery.id}/resend")
    till.sim.state.wait_for(lambda s: len(s.notifications("payment")[0].attempts) >= 2, 5)
    assert till.sim.state.notifications("payment")[0].attempts[-1].ok

    assert till.card(member["id"]) == card
    assert [p.id for p in till.payments()] == [p.id for p in payments]


def test_notification_for_another_merchants_trade_is_ignored(till, make):
    other = make.tenant()
    add_wechat_settings(till.db, other.merchant.id, appid=OTHER_APPID, mch_id=OTHER_MCH_ID, api_key=OTHER_KEY)
    from tests.factories import create_dish

    dish = create_dish(make, other)
    other_order = make.api(other.owner).post("/orders", json={
        "store_id": other.store.id, "idempotency_key": key(), "items": [{"dish_id": dish["id"], "qty": 1}]}).get_json()
    row = PaymentIntent(merchant_id=other.merchant.id, store_id=other.store.id, kind=IntentKind.ORDER,
                        trade_type=TradeType.NATIVE, order_id=other_order["id"], amount_cents=12_800,
                        out_trade_no="TLO261124othermerchant01", idempotency_key=key(), params={"tenders": []},
                        expires_at=utcnow() + timedelta(minutes=15))
    till.db.session.add(row)
    till.db.session.commit()
    intent = {"out_trade_no": row.out_trade_no, "amount_cents": 12_800}

    # Signed with this merchant's own key: a genuine message, but not for a trade of theirs.
    assert "FAIL" in notify(till, signed_notification(fields_for(intent)))
    # Claiming the other merchant's account, but not signed with its key.
    claimed = fields_for(intent, appid=OTHER_APPID, mch_id=OTHER_MCH_ID)
    assert "FAIL" in notify(till, signed_notification(claimed))
    # The other merchant's appid with this merchant's mch_id: no such account.
    assert "FAIL" in notify(till, signed_notification(fields_for(intent, appid=OTHER_APPID), api_key=OTHER_KEY))

    till.fresh()
    assert till.db.session.get(PaymentIntent, row.id).status is IntentStatus.PENDING
    assert make.api(other.owner).get(f"/orders/{other_order['id']}").get_json()["status"] == "open"


@pytest.mark.parametrize("body", [b"", b"not xml", b"<xml><appid>x</appid></xml>",
                                  b'<!DOCTYPE x [<!ENTITY a "b">]><xml><appid>&a;</appid></xml>',
                                  b"<xml>" + b"<a>1</a>" * 20_000 + b"</xml>"])
def test_garbage_notifications_are_refused(till, body):
    assert "FAIL" in notify(till, body)
    response = till.make.client.post("/payments/wechat/refund-notify", data=body, content_type="text/xml")
    assert response.status_code == 200 and "FAIL" in response.get_data(as_text=True)


def test_forged_refund_notification_is_refused(till):
    body = (f"<xml><return_code>SUCCESS</return_code><appid>{DEMO_APPID}</appid><mch_id>{DEMO_MCH_ID}</mch_id>"
            f"<nonce_str>abc</nonce_str><req_info>bm90IGVuY3J5cHRlZCBhdCBhbGwgYnV0IGxvbmcgZW5vdWdo</req_info></xml>")
    response = till.make.client.post("/payments/wechat/refund-notify", data=body.encode(), content_type="text/xml")
    assert "FAIL" in response.get_data(as_text=True)


def test_money_that_arrives_for_a_settled_order_is_sent_back(till):
    order = till.order()
    intent = native(till, order["id"])
    assert till.settle(order["id"], [{"type": "cash", "amount_cents": 20_000}]).status_code == 200

    diner = till.sim.state.create_user("晚到的付款")
    till.sim.app.test_client().post("/_sim/orders/pay", json={"code_url": intent["code_url"], "openid": diner.openid})
    till.delivered("payment", intent["out_trade_no"])

    (row,) = till.intents()
    assert row.status is IntentStatus.REFUNDED and row.transaction_id
    (refund,) = till.sim.state.refunds.values()
    assert refund.out_trade_no == row.out_trade_no and refund.refund_fee == row.amount_cents
    assert [p.tender for p in till.payments()] == [TenderType.CASH]
    assert till.db.session.scalar(sa.select(PaymentRefund.amount_cents)) == row.amount_cents
    from app.audit.models import AuditEntry

    assert till.db.session.scalar(sa.select(AuditEntry.id).where(AuditEntry.action == "payment.paid_unapplied"))


def test_reconciliation_settles_a_payment_whose_notification_never_arrived(till, app):
    member = till.member()
    order = till.order()
    app.config["PUBLIC_BASE_URL"] = "http://127.0.0.1:9"  # WeChat Pay cannot reach us
    intent = native(till, order["id"], member_id=member["id"])
    diner = till.sim.state.create_user("食客")
    till.sim.app.test_client().post("/_sim/orders/pay", json={"code_url": intent["code_url"], "openid": diner.openid})
    assert till.get_order(order["id"])["status"] == "open"

    assert reconcile_pending(utcnow(), actor=till.system) == {}  # too early: the notification comes first
    counts = reconcile_pending(utcnow() + timedelta(minutes=3), actor=till.system)

    assert counts == {"paid": 1}
    assert till.get_order(order["id"])["status"] == "paid"
    assert till.card(member["id"])["points"] > 0
    assert reconcile_pending(utcnow() + timedelta(minutes=3), actor=till.system) == {}


def test_reconciliation_closes_an_expired_unpaid_trade(till):
    order = till.order()
    intent = native(till, order["id"])
    assert reconcile_pending(utcnow() + timedelta(minutes=5), actor=till.system) == {"waiting": 1}
    counts = reconcile_pending(utcnow() + timedelta(minutes=30), actor=till.system)
    assert counts == {"closed": 1}
    assert till.intents()[0].status is IntentStatus.CLOSED
    assert till.sim.state.orders[intent["out_trade_no"]].state == "CLOSED"
    assert till.get_order(order["id"])["status"] == "open"


def test_reconciliation_reverses_a_payment_code_the_till_gave_up_on(till):
    order = till.order()
    till.sim.state.start_outage("503", scope="pay")
    try:
        response = till.settle(order["id"], [{"type": "wechat", "amount_cents": 15_200,
                                              "auth_code": "134567890123450001"}])
    finally:
        till.sim.state.end_outage()
    assert response.status_code == 502
    (row,) = till.intents()
    assert row.status is IntentStatus.PENDING
    counts = reconcile_pending(utcnow() + timedelta(minutes=5), actor=till.system)
    assert counts == {"failed": 1}  # WeChat never heard of it
    assert till.intents()[0].status is IntentStatus.FAILED
    assert till.get_order(order["id"])["status"] == "open"


def test_reconciliation_is_a_scheduled_job(app):
    from app import scheduler

    assert ("reconcile_payments", "app.scheduler:reconcile_payments", {"minute": "*/5"}) in scheduler.JOBS
    assert callable(scheduler.reconcile_payments)


def test_refund_of_a_native_payment(till):
    order = till.order()
    intent = native(till, order["id"])
    diner = till.sim.state.create_user("食客")
    till.sim.app.test_client().post("/_sim/orders/pay", json={"code_url": intent["code_url"], "openid": diner.openid})
    till.delivered("payment", intent["out_trade_no"])
    response = till.api.post(f"/orders/{order['id']}/refund", json={"reason": "退单", "idempotency_key": key()})
    assert response.status_code == 200, response.get_json()
    till.send_outbox()
    (refund,) = till.sim.state.refunds.values()
    assert refund.refund_fee == intent["amount_cents"]
    assert [(p.tender, p.kind) for p in till.payments()] == [(TenderType.WECHAT, PaymentKind.CHARGE),
                                                             (TenderType.WECHAT, PaymentKind.REFUND)]
