"""Splitting a table's bill: equal shares that add up to the payable exactly, each paid once on a
diner's phone (stored value, or WeChat Pay confirmed by its notification), the order paid when
the shares cover it, and the table's phones told through the store log."""

from __future__ import annotations

import re

import requests
import sqlalchemy as sa

from tests import wechat_pay_support as support
from tests.wechat_pay_support import Till

pay_sim, live_url, wechat = support.pay_sim, support.live_url, support.wechat


def _till(make, wechat) -> Till:
    return Till(make, wechat)


def _table_token(till):
    from app.tables.models import DiningTable
    from app.tables.service import table_token

    table = till.table()
    return table, table_token(till.db.session.get(DiningTable, table["id"]))


def _sign_in(client, openid, merchant_id):
    with client.session_transaction() as session:
        session["wechat_openid"], session["wechat_merchant_id"] = openid, merchant_id
        session["wechat_nickname"] = openid[-4:]


def _member_with_openid(till, openid: str, topup_cents: int) -> dict:
    from app.members.models import Member

    member = till.member(topup_cents)
    till.db.session.get(Member, member["id"]).openid = openid
    till.db.session.commit()
    return member


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _split(client, token, order_id, count) -> str:
    page = client.get(f"/t/{token}/bill?order={order_id}").get_data(as_text=True)
    assert 'id="split-form"' in page
    answer = client.post(f"/t/{token}/bill/split", data={"csrf_token": _csrf(page), "order_id": order_id,
                                                          "count": count})
    assert answer.status_code == 302
    return client.get(f"/t/{token}/bill?order={order_id}").get_data(as_text=True)


def _confirm_form(client, token, order_id, share_ids) -> dict:
    ids = ",".join(str(i) for i in share_ids)
    page = client.get(f"/t/{token}/bill?order={order_id}&share={ids}").get_data(as_text=True)
    assert 'id="share-confirm"' in page, page[:2000]
    form = page[page.index('id="share-confirm"'):]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form[:form.index("</form>")]))


def _split_row(till, order_id):
    from app.orders.models import BillSplit, SplitStatus

    till.fresh()
    return till.db.session.scalar(sa.select(BillSplit).where(BillSplit.order_id == order_id,
                                                             BillSplit.status != SplitStatus.CANCELLED))


def test_equal_shares_add_up_and_each_is_paid_once_then_the_order_is_paid(make, wechat, app):
    from app.events.models import EventKind, StoreEvent

    till = _till(make, wechat)
    table, token = _table_token(till)
    order = till.order(table, (till.fish, 1), (till.beer, 1))  # 140.00: three shares 46.67 + 46.67 + 46.66
    alice = _member_with_openid(till, "o_split_alice", 50_000)
    bob = _member_with_openid(till, "o_split_bob", 50_000)
    phone_a, phone_b = make.client, app.test_client()
    _sign_in(phone_a, "o_split_alice", till.tenant.merchant.id)
    _sign_in(phone_b, "o_split_bob", till.tenant.merchant.id)

    page = _split(phone_a, token, order["id"], 3)
    split = _split_row(till, order["id"])
    amounts = [share.amount_cents for share in split.shares]
    assert sum(amounts) == split.payable_cents and max(amounts) - min(amounts) <= 1 and len(amounts) == 3
    assert page.count('class="share is-open"') == 3
    first, second, third = split.shares

    form = _confirm_form(phone_a, token, order["id"], [first.id])
    assert form["amount_cents"] == str(first.amount_cents)
    paid = phone_a.post(f"/t/{token}/bill/shares/stored-value", data=form, follow_redirects=True)
    assert "你的份额已支付" in paid.get_data(as_text=True)
    again = phone_a.post(f"/t/{token}/bill/shares/stored-value", data=form)  # the same confirmation twice
    assert again.status_code == 302
    b_form = _confirm_form(phone_b, token, order["id"], [second.id])
    twice = phone_b.post(f"/t/{token}/bill/shares/stored-value", data={
        **b_form, "share_ids": str(first.id), "amount_cents": str(first.amount_cents)}, follow_redirects=True)
    assert "这份已支付" in twice.get_data(as_text=True)
    assert till.card(alice["id"])["stored_value"]["total_cents"] == 50_000 + 5_000 - first.amount_cents
    assert till.card(bob["id"])["stored_value"]["total_cents"] == 55_000
    assert till.get_order(order["id"])["status"] == "open"
    # Once a share is paid the bill cannot be split again.
    refused = phone_b.post(f"/t/{token}/bill/split", data={"csrf_token": b_form["csrf_token"],
                                                           "order_id": order["id"], "count": 2},
                           follow_redirects=True)
    assert "不能再分摊" in refused.get_data(as_text=True)

    # Bob pays the rest: both open shares at once; the order is paid by the shares.
    rest = _confirm_form(phone_b, token, order["id"], [second.id, third.id])
    assert rest["amount_cents"] == str(second.amount_cents + third.amount_cents)
    done = phone_b.post(f"/t/{token}/bill/shares/stored-value", data=rest, follow_redirects=True)
    html = done.get_data(as_text=True)
    assert 'id="paid"' in html and html.count('class="share is-paid"') == 3
    settled = till.get_order(order["id"])
    assert settled["status"] == "paid" and settled["paid_cents"] == split.payable_cents
    assert sum(p.amount_cents for p in till.payments() if p.order_id == order["id"]) == split.payable_cents
    assert till.card(bob["id"])["stored_value"]["total_cents"] == 55_000 - second.amount_cents - third.amount_cents
    assert till.card(alice["id"])["stored_value"]["total_cents"] == 55_000 - first.amount_cents  # charged once
    # Every phone at the table hears of each change (split, share paid, shares paid) on the table's stream.
    kinds = till.db.session.scalars(sa.select(StoreEvent.kind).where(StoreEvent.order_id == order["id"])).all()
    assert kinds.count(EventKind.BILL_SPLIT_CHANGED) == 3 and EventKind.ORDER_PAID in kinds


def test_a_share_paid_with_wechat_pay_turns_paid_on_the_notification(make, wechat, app):
    till = _till(make, wechat)
    table, token = _table_token(till)
    order = till.order(table, (till.fish, 1))  # 128.00 in two shares of 64.00
    alice = _member_with_openid(till, "o_split_carol", 50_000)
    guest = till.sim.state.create_user("朋友")
    phone_a, phone_g = make.client, app.test_client()
    _sign_in(phone_a, "o_split_carol", till.tenant.merchant.id)
    _sign_in(phone_g, guest.openid, till.tenant.merchant.id)
    _split(phone_a, token, order["id"], 2)
    split = _split_row(till, order["id"])
    first, second = split.shares

    url = f"/api/v1/diner/tables/{token}/shares/wechat-pay"
    opened = phone_g.post(url, json={"order_id": order["id"], "share_ids": [second.id]})
    assert opened.status_code == 201, opened.get_json()
    body = opened.get_json()
    assert body["amount_cents"] == second.amount_cents and body["jsapi"]["package"].startswith("prepay_id=")
    assert phone_g.post(url, json={"order_id": order["id"], "share_ids": [second.id]}).get_json()["intent_id"] \
        == body["intent_id"]  # a second tap: the same trade
    assert phone_g.post(url, json={"order_id": order["id"], "share_ids": [999_999]}).status_code == 404
    (intent,) = [i for i in till.intents() if i.id == body["intent_id"]]
    paid = requests.post(f"{till.sim.url}/_sim/orders/pay", json={"out_trade_no": intent.out_trade_no}, timeout=10)
    assert paid.status_code == 200, paid.text
    till.delivered("payment", intent.out_trade_no)
    status = phone_g.get(f"/api/v1/diner/tables/{token}/wechat-pay/{body['intent_id']}").get_json()
    assert status["status"] == "paid" and status["order_status"] == "open"
    split = _split_row(till, order["id"])
    assert [s.is_paid for s in split.shares] == [False, True] and split.shares[1].tender.label == "wechat"
    # That share cannot be paid again, by WeChat or by stored value.
    assert phone_g.post(url, json={"order_id": order["id"], "share_ids": [second.id]}).status_code == 409

    form = _confirm_form(phone_a, token, order["id"], [first.id])
    phone_a.post(f"/t/{token}/bill/shares/stored-value", data=form)
    settled = till.get_order(order["id"])
    assert settled["status"] == "paid" and settled["paid_cents"] == split.payable_cents == 12_800
    tenders = sorted((p.tender.label, p.amount_cents) for p in till.payments() if p.order_id == order["id"])
    assert tenders == [("stored_value", first.amount_cents), ("wechat", second.amount_cents)]
    assert till.card(alice["id"])["stored_value"]["total_cents"] == 55_000 - first.amount_cents


def test_dishes_added_after_a_share_is_paid_go_to_the_open_shares_and_the_till_waits(make, wechat):
    till = _till(make, wechat)
    table, token = _table_token(till)
    order = till.order(table, (till.fish, 1), (till.beer, 1))  # 140.00
    _member_with_openid(till, "o_split_dan", 50_000)
    phone = make.client
    _sign_in(phone, "o_split_dan", till.tenant.merchant.id)
    _split(phone, token, order["id"], 3)
    first, second, third = _split_row(till, order["id"]).shares
    phone.post(f"/t/{token}/bill/shares/stored-value", data=_confirm_form(phone, token, order["id"], [first.id]))

    # The till cannot settle it another way now: the paid share would be charged twice.
    refused = till.settle(order["id"], [{"type": "cash", "amount_cents": 14_000}])
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "split_in_progress"

    # A beer more for the table: the two open shares share what is left (152.00 - 46.67).
    added = till.api.post(f"/orders/{order['id']}/items", json={"items": [{"dish_id": till.beer["id"], "qty": 1}],
                                                                "idempotency_key": support.key()})
    assert added.status_code in (200, 201), added.get_json()
    page = phone.get(f"/t/{token}/bill?order={order['id']}").get_data(as_text=True)
    assert "￥52.67" in page and "￥52.66" in page and "共 ￥152.00" in page
    rest = _confirm_form(phone, token, order["id"], [second.id, third.id])
    assert rest["amount_cents"] == "10533"
    phone.post(f"/t/{token}/bill/shares/stored-value", data=rest)
    settled = till.get_order(order["id"])
    assert settled["status"] == "paid" and settled["paid_cents"] == 15_200
    split = _split_row(till, order["id"])
    assert split.payable_cents == 15_200 and sum(s.amount_cents for s in split.shares) == 15_200
