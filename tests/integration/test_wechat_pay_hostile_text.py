"""What goes to WeChat Pay is text WeChat can take, whatever a store or a cashier typed, and a
refusal caused by the request answers 4xx with WeChat's reason (502 is for WeChat's own trouble)."""

import pytest

from app.payments.models import PaymentIntent
from app.payments.state import IntentStatus
from app.tenants.models import Store
from tests import wechat_pay_support as support
from tests.wechat_pay_support import Till, key, payment_code

pay_sim, live_url, wechat = support.pay_sim, support.live_url, support.wechat  # the fixtures


@pytest.fixture
def till(make, wechat):
    return Till(make, wechat)


def _rename_store(till, name: str) -> None:
    # Straight into the row: names stored before the input checks existed must still work.
    till.db.session.get(Store, till.tenant.store.id).name = name
    till.db.session.commit()


@pytest.mark.parametrize(("name", "body"), [
    ("湘味]]>\x0b小馆", "湘味小馆-餐费"), ("湘味\x1f小馆\ufffe", "湘味小馆-餐费"),
    ("湘味]]\x0b>小馆", "湘味小馆-餐费"), ("湘味]]]>>小馆", "湘味]>小馆-餐费")])
def test_a_store_name_with_markup_or_control_characters_still_takes_wechat_pay(till, name, body):
    _rename_store(till, name)
    order = till.order()

    response = till.api.post(f"/orders/{order['id']}/wechat-pay", json={"trade_type": "NATIVE",
                                                                        "idempotency_key": key()})

    assert response.status_code == 201, response.get_json()
    trade = till.sim.state.orders[response.get_json()["out_trade_no"]]
    assert trade.body == body


def test_a_payment_code_in_a_store_with_such_a_name_settles(till):
    _rename_store(till, "湘味]]>\x0b小馆")
    order = till.order()
    response = till.settle(order["id"], [{"type": "wechat", "amount_cents": 15_200,
                                          "auth_code": payment_code("0001")}])
    assert response.status_code == 200, response.get_json()


def test_the_body_is_cut_to_wechats_128_bytes(till):
    _rename_store(till, "𠮷" * 60)  # four bytes each in UTF-8
    order = till.order()
    response = till.api.post(f"/orders/{order['id']}/wechat-pay", json={"trade_type": "NATIVE",
                                                                        "idempotency_key": key()})
    assert response.status_code == 201, response.get_json()
    body = till.sim.state.orders[response.get_json()["out_trade_no"]].body
    assert body.startswith("𠮷") and len(body.encode("utf-8")) <= 128


def test_a_refund_reason_goes_to_wechat_clean_and_within_80_characters(till):
    order = till.order()
    assert till.settle(order["id"], [{"type": "wechat", "amount_cents": 15_200,
                                      "auth_code": payment_code("0001")}]).status_code == 200
    response = till.api.post(f"/orders/{order['id']}/refund",
                             json={"reason": "菜品]]>问题" + "很" * 100, "idempotency_key": key()})
    assert response.status_code == 200, response.get_json()
    till.send_outbox()
    (refund,) = till.sim.state.refunds.values()
    assert refund.refund_desc.startswith("菜品问题很") and len(refund.refund_desc) <= 80


@pytest.mark.parametrize("name", ["湘味]]>小馆", "<![CDATA[x]]>"])
def test_a_store_name_with_xml_markup_is_refused(till, name):
    created = till.api.post("/stores", json={"name": name})
    assert created.status_code == 422, created.get_json()
    assert "name" in created.get_json()["error"]["details"]["fields"]
    renamed = till.api.patch(f"/stores/{till.tenant.store.id}", json={"name": name})
    assert renamed.status_code == 422, renamed.get_json()
    till.db.session.rollback()
    assert till.db.session.get(Store, till.tenant.store.id).name != name


def test_an_openid_wechat_does_not_know_for_the_appid_is_a_4xx_with_wechats_reason(till):
    order = till.order()
    response = till.api.post(f"/orders/{order['id']}/wechat-pay", json={
        "trade_type": "JSAPI", "openid": "o-someone-of-another-appid", "idempotency_key": key()})

    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "payment_provider_refused"
    assert error["details"]["provider_message"] == "appid和openid不匹配"
    till.db.session.rollback()
    (intent,) = till.db.session.query(PaymentIntent).all()
    assert intent.status is IntentStatus.FAILED
    assert till.get_order(order["id"])["status"] == "open"


def test_wechat_pay_answering_5xx_is_still_a_502(till):
    order = till.order()
    till.sim.state.start_outage("503", scope="pay", seconds=30)
    try:
        response = till.api.post(f"/orders/{order['id']}/wechat-pay", json={"trade_type": "NATIVE",
                                                                            "idempotency_key": key()})
    finally:
        till.sim.state.end_outage()
    assert response.status_code == 502, response.get_json()
    assert response.get_json()["error"]["code"] == "payment_provider_unavailable"
