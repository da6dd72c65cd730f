"""The bill pushed to every diner's WeChat at the table, and what a paid order tells WeChat."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import sqlalchemy as sa

from app.events.models import EventKind, StoreEvent
from app.members.models import Member
from app.orders.models import Order
from tests.factories import create_dish, create_member, create_table
from tests.integration.wechat_support import (
    deliver,
    field,
    new_user,
    sign_in,
    templates_in,
)


def _table_path(table: dict) -> str:
    return "/t/" + table["qr_url"].rsplit("/t/", 1)[1]


def _order_at(make, world, table: dict, dish: dict, qty: int = 1) -> int:
    api = make.api(world.tenant.owner)
    assert api.post(f"/tables/{table['id']}/cart/lines", json={"dish_id": dish["id"], "qty": qty}).status_code == 201
    response = api.post(f"/tables/{table['id']}/cart/send")
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()["id"]


def _table_state(make, world, table: dict) -> str:
    tables = make.api(world.tenant.owner).get(f"/stores/{world.tenant.store.id}/tables").get_json()["tables"]
    return next(t["state"] for t in tables if t["id"] == table["id"])


def test_the_bill_reaches_every_diner_at_the_table_once(make, oa):
    table = create_table(make, oa.tenant, code="A08")
    dish = create_dish(make, oa.tenant, name="剁椒鱼头", price_cents=12_800)
    diners = [new_user(oa.sim, "小王"), new_user(oa.sim, "小李")]
    for openid in diners:
        sign_in(make.client.application.test_client(), oa.sim, _table_path(table), openid)
    elsewhere = new_user(oa.sim, "邻桌")
    sign_in(make.client.application.test_client(), oa.sim, _table_path(create_table(make, oa.tenant)),
            elsewhere)
    order_id = _order_at(make, oa, table, dish)
    api = make.api(oa.tenant.owner)

    response = api.post(f"/orders/{order_id}/push-bill")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["order_id"], body["sent_to"], body["recipients"], body["payable_cents"]) == (order_id, 2, 2, 12_800)
    assert body["bill_url"].startswith("http://127.0.0.1:8000/t/") and body["bill_url"].endswith(
        f"/bill?order={order_id}")
    assert _table_state(make, oa, table) == "awaiting_payment"
    make.db.session.commit()
    events = make.db.session.scalars(sa.select(StoreEvent).where(StoreEvent.kind == EventKind.BILL_PUSHED)).all()
    assert [e.payload["sent_to"] for e in events] == [2]

    assert deliver().sent == 2
    for openid in diners:
        (bill,) = templates_in(oa.sim, openid)
        assert bill["template_id"] == "TPL_BILL" and bill["url"] == body["bill_url"]
        assert field(bill, "keyword2") == "￥128.00" and "A08" in field(bill, "keyword1")
        assert "剁椒鱼头×1" in field(bill, "remark")
    assert templates_in(oa.sim, elsewhere) == []

    # Pushed again unchanged: nobody gets it twice.
    again = api.post(f"/orders/{order_id}/push-bill").get_json()
    assert (again["sent_to"], again["recipients"]) == (0, 2)
    assert deliver().handled == 0

    # More dishes: the table orders again, and the new bill goes out.
    _order_at(make, oa, table, dish)
    assert _table_state(make, oa, table) == "ordering"
    assert api.post(f"/orders/{order_id}/push-bill").get_json()["sent_to"] == 2
    assert deliver().sent == 2
    latest = templates_in(oa.sim, diners[0])[0]
    assert field(latest, "keyword2") == "￥256.00"


def test_a_bill_cannot_be_pushed_without_a_table_wechat_or_an_open_order(make, oa):
    dish = create_dish(make, oa.tenant)
    api = make.api(oa.tenant.owner)
    takeaway = api.post("/orders", json={"store_id": oa.tenant.store.id, "idempotency_key": uuid.uuid4().hex,
                                         "items": [{"dish_id": dish["id"], "qty": 1}]}).get_json()
    response = api.post(f"/orders/{takeaway['id']}/push-bill")
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "order_has_no_table"

    table = create_table(make, oa.tenant)
    order_id = _order_at(make, oa, table, dish)
    paid = api.post(f"/orders/{order_id}/settle", json={
        "tenders": [{"type": "cash", "amount_cents": 20_000}], "idempotency_key": uuid.uuid4().hex})
    assert paid.status_code == 200, paid.get_json()
    response = api.post(f"/orders/{order_id}/push-bill")
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "order_not_open"

    other = make.tenant()
    other_table = create_table(make, other)
    other_order = _order_at(make, type(oa)(oa.sim, other, None), other_table, create_dish(make, other))
    response = make.api(other.owner).post(f"/orders/{other_order}/push-bill")
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "wechat_not_configured"
    assert make.db.session.scalars(sa.select(StoreEvent).where(StoreEvent.kind == EventKind.BILL_PUSHED)).all() == []


def test_a_paid_order_tells_the_member_and_the_payer(make, oa):
    member_openid, payer_openid = new_user(oa.sim, "会员"), new_user(oa.sim, "朋友")
    member = create_member(make, oa.tenant, name="周八")
    make.db.session.get(Member, member["id"]).openid = member_openid
    make.db.session.commit()
    api = make.api(oa.tenant.owner)
    assert api.post(f"/members/{member['id']}/topups", json={
        "amount_cents": 50_000, "tender": "cash", "idempotency_key": uuid.uuid4().hex}).status_code in (200, 201)
    assert deliver().sent == 1  # the top-up's message
    table = create_table(make, oa.tenant, code="E05")
    order_id = _order_at(make, oa, table, create_dish(make, oa.tenant, price_cents=8_800))
    paid = api.post(f"/orders/{order_id}/settle", json={
        "member_id": member["id"], "tenders": [{"type": "stored_value", "amount_cents": 8_800}],
        "idempotency_key": uuid.uuid4().hex})
    assert paid.status_code == 200, paid.get_json()
    # Another top-up before the worker runs: the order's message still tells the balance it left.
    assert api.post(f"/members/{member['id']}/topups", json={
        "amount_cents": 10_000, "tender": "cash", "idempotency_key": uuid.uuid4().hex}).status_code in (200, 201)
    deliver()

    paid_note, = templates_in(oa.sim, member_openid, "TPL_PAID")
    assert field(paid_note, "keyword2") == "￥88.00" and "E05" in field(paid_note, "keyword1")
    assert field(paid_note, "remark") == "本次获得 88 积分，欢迎再次光临"
    balances = [(field(m, "keyword1"), field(m, "keyword2"), field(m, "remark"))
                for m in templates_in(oa.sim, member_openid, "TPL_BALANCE")]
    spent = ("-￥88.00", "￥462.00", f"{_store_name(make, oa)} E05桌消费")
    assert balances == [("+￥100.00", "￥562.00", "充值"), spent, ("+￥550.00", "￥550.00", "充值")]  # newest first
    points, = templates_in(oa.sim, member_openid, "TPL_POINTS")
    assert field(points, "keyword1") == "+88" and field(points, "keyword2") == "88"
    assert templates_in(oa.sim, payer_openid) == []  # paid from the card: no WeChat payer

    # Paid through WeChat Pay by a friend: the payer hears of it too, and only the once.
    from app.outbox.models import OutboxMessage
    from app.wechat import subscribers

    order = make.db.session.get(Order, order_id)
    for payer in (payer_openid, member_openid):
        message = OutboxMessage(merchant_id=order.merchant_id, kind=subscribers.PAID_PAYER,
                                payload={"event": "order_paid", "order_id": order.id, "payer_openid": payer})
        subscribers.deliver_paid_to_payer(message)
    assert [m["template_id"] for m in templates_in(oa.sim, payer_openid)] == ["TPL_PAID"]
    assert len(templates_in(oa.sim, member_openid, "TPL_PAID")) == 1  # the member's own says it


def _store_name(make, world) -> str:
    from app.tenants.models import Store

    return make.db.session.get(Store, world.tenant.store.id).name


def test_a_member_at_the_table_is_told_the_payable_of_their_bill_page(make, oa):
    table = create_table(make, oa.tenant, code="B02")
    dish = create_dish(make, oa.tenant, name="小炒黄牛肉", price_cents=12_800)
    guest, regular = new_user(oa.sim, "客人"), new_user(oa.sim, "熟客")
    phones = {}
    for openid in (guest, regular):
        phones[openid] = make.client.application.test_client()
        sign_in(phones[openid], oa.sim, _table_path(table), openid)
    member = create_member(make, oa.tenant, name="熟客")
    api = make.api(oa.tenant.owner)
    assert api.post(f"/members/{member['id']}/topups", json={  # a large top-up lifts the card to 银卡, 5 % off
        "amount_cents": 100_000, "tender": "cash", "idempotency_key": uuid.uuid4().hex}).status_code == 201
    make.db.session.get(Member, member["id"]).openid = regular
    make.db.session.commit()
    order_id = _order_at(make, oa, table, dish)

    body = api.post(f"/orders/{order_id}/push-bill").get_json()
    assert (body["payable_cents"], body["recipients"], body["sent_to"]) == (12_800, 2, 2)
    deliver()
    for openid, payable in ((guest, "￥128.00"), (regular, "￥121.60")):
        (bill,) = templates_in(oa.sim, openid, "TPL_BILL")
        assert field(bill, "keyword2") == payable
        page = phones[openid].get(urlsplit(bill["url"]).path + "?" + urlsplit(bill["url"]).query)
        assert page.status_code == 200
        assert f'id="payable">{payable}<' in page.get_data(as_text=True)
