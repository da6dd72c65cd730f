"""Another merchant's id answers 404 on every id-taking route, exactly like a missing one."""

import uuid

from tests.factories import create_coupon_template, create_dish, create_member, create_table, issue_coupon
from tests.routes import api_routes


def _objects_of(make, tenant):
    """One object of `tenant` for each URL id argument. A new id argument must be added here."""
    return {
        "store_id": lambda: tenant.store.id,
        "staff_id": lambda: make.staff(tenant, "cashier").id,
        "device_id": lambda: make.device(tenant, name=f"till-{make.staff(tenant, 'kitchen').id}")[0].id,
        "member_id": lambda: create_member(make, tenant)["id"],
        "card_id": lambda: _card(make, tenant),
        "topup_id": lambda: _topup(make, tenant),
        "dish_id": lambda: create_dish(make, tenant, name=f"菜{uuid.uuid4().hex[:8]}")["id"],
        "table_id": lambda: create_table(make, tenant)["id"],
        "category_id": lambda: make.api(tenant.owner).post("/menu/categories", json={
            "name": f"类{uuid.uuid4().hex[:8]}"}).get_json()["id"],
        "coupon_template_id": lambda: create_coupon_template(make, tenant)["id"],
        "coupon_id": lambda: issue_coupon(make, tenant, create_member(make, tenant)["id"])["id"],
        "order_id": lambda: _order(make, tenant)["id"],
        "line_id": lambda: _order(make, tenant)["items"][0]["id"],
        "ticket_id": lambda: _ticket(make, tenant),
        "cart_line_id": lambda: _cart_line(make, tenant),
        "intent_id": lambda: _payment_intent(make, tenant),
        "tag_rule_id": lambda: make.api(tenant.owner).post("/tag-rules", json={
            "name": f"规则{uuid.uuid4().hex[:6]}", "tag": "常客", "kind": "visits",
            "params": {"min_visits": 3, "days": 30}}).get_json()["id"],
        "conversation_id": lambda: _conversation(make, tenant),
        "segment_id": lambda: _segment(make, tenant),
        "campaign_id": lambda: make.api(tenant.owner).post("/campaigns", json={
            "name": f"活动{uuid.uuid4().hex[:6]}", "segment_id": _segment(make, tenant),
            "message_title": "周末特惠", "message_body": "本周末全场九折"}).get_json()["id"],
    }


def _segment(make, tenant):
    response = make.api(tenant.owner).post("/segments", json={"name": f"分群{uuid.uuid4().hex[:6]}",
                                                              "spec": {"visits_min": 1}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _conversation(make, tenant):
    """A follower's conversation in the tenant's store (as the WeChat callback leaves it)."""
    from app.inbox.models import Conversation

    conversation = Conversation(merchant_id=tenant.merchant.id, store_id=tenant.store.id,
                                openid=f"o_{uuid.uuid4().hex[:20]}")
    make.db.session.add(conversation)
    make.db.session.commit()
    return conversation.id


def _payment_intent(make, tenant):
    """A WeChat Pay attempt of the tenant, as a NATIVE trade leaves it (no simulator needed)."""
    from app.payments.models import IntentKind, PaymentIntent, TradeType

    intent = PaymentIntent(merchant_id=tenant.merchant.id, store_id=tenant.store.id, kind=IntentKind.ORDER,
                           trade_type=TradeType.NATIVE, order_id=_order(make, tenant)["id"], amount_cents=100,
                           out_trade_no=f"TLO{uuid.uuid4().hex[:20]}", idempotency_key=uuid.uuid4().hex,
                           params={}, code_url="weixin://wxpay/bizpayurl?pr=test")
    make.db.session.add(intent)
    make.db.session.commit()
    return intent.id


def _order(make, tenant):
    dish = create_dish(make, tenant, name=f"菜{uuid.uuid4().hex[:8]}")
    response = make.api(tenant.owner).post("/orders", json={
        "store_id": tenant.store.id, "idempotency_key": uuid.uuid4().hex, "items": [{"dish_id": dish["id"], "qty": 1}]})
    return response.get_json()


def _ticket(make, tenant):
    _order(make, tenant)
    return make.api(tenant.owner).get(f"/stores/{tenant.store.id}/tickets").get_json()["tickets"][-1]["ticket_id"]


def _cart_line(make, tenant):
    table = create_table(make, tenant)
    dish = create_dish(make, tenant, name=f"菜{uuid.uuid4().hex[:8]}")
    cart = make.api(tenant.owner).post(f"/tables/{table['id']}/cart/lines", json={"dish_id": dish["id"], "qty": 1})
    return cart.get_json()["lines"][0]["id"]


def _card(make, tenant):
    member = create_member(make, tenant)
    response = make.api(tenant.owner).post(f"/members/{member['id']}/cards", json={"card_no": uuid.uuid4().hex[:12]})
    return response.get_json()["id"]


def _topup(make, tenant):
    member = create_member(make, tenant)
    response = make.api(tenant.owner).post(f"/members/{member['id']}/topups", json={
        "amount_cents": 100, "tender": "cash", "idempotency_key": uuid.uuid4().hex})
    return response.get_json()["topup_id"]


def test_every_id_route_answers_404_for_another_merchants_id(make):
    victim, intruder = make.tenant(), make.tenant()
    factories = _objects_of(make, victim)
    intruder_api = make.api(intruder.owner)
    checked = 0
    for route in api_routes(make.client.application):
        if not route.id_args:
            continue
        missing = [arg for arg in route.id_args if arg not in factories]
        assert not missing, f"{route.endpoint}: add a factory for {missing} in tests/integration/test_tenancy.py"
        url = route.url(**{arg: factories[arg]() for arg in route.id_args})
        response = intruder_api.request(route.method, url, json={})
        assert response.status_code == 404, (route.method, url, response.get_json())
        assert response.get_json()["error"]["code"] == "not_found"
        checked += 1
    assert checked >= 5


def test_the_owner_of_an_object_does_reach_it(make):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    assert api.get(f"/stores/{tenant.store.id}").status_code == 200
    assert api.get(f"/staff/{tenant.owner.id}").status_code == 200


def test_lists_show_only_the_callers_merchant(make):
    mine, other = make.tenant(), make.tenant()
    make.staff(other, "cashier")
    staff = make.api(mine.owner).get("/staff").get_json()["staff"]
    assert {s["merchant_id"] for s in staff} == {mine.merchant.id}
    stores = make.api(mine.owner).get("/stores").get_json()["stores"]
    assert [s["id"] for s in stores] == [mine.store.id]
