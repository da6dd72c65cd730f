"""The diner's phone behind a table's signed QR link: the menu, the shared cart, sending, the
waiter call and the table's own live stream — each scoped to that one table: another table's
line or another merchant's dish is 404, bad input is 4xx and changes nothing."""

from __future__ import annotations

import json
import re
import threading

import pytest
import sqlalchemy as sa

from app.events.models import EventKind, StoreEvent
from app.orders.models import CartLine
from app.tenants.models import Store
from tests.factories import create_dish, create_member, create_table
from tests.integration.wechat_support import (  # noqa: F401 - fixtures
    deliver,
    oa,
    oa_live_server,
    oa_sim,
    sign_in,
    templates_in,
)


def _token(table: dict) -> str:
    return table["qr_url"].rsplit("/t/", 1)[1]


class Phone:
    """A phone's browser at a table: the menu page, then its JSON calls with the page's CSRF token."""

    def __init__(self, client, token: str) -> None:
        self.client, self.token = client, token
        page = client.get(f"/t/{token}")
        assert page.status_code == 200, page.get_data(as_text=True)[:500]
        self.html = page.get_data(as_text=True)
        self.csrf = re.search(r'data-csrf="([^"]+)"', self.html).group(1)

    def _headers(self) -> dict:
        return {"X-CSRFToken": self.csrf, "Accept": "application/json"}

    def view(self, token: str | None = None):
        return self.client.get(f"/t/{token or self.token}/cart.json", headers=self._headers())

    def add(self, dish_id, qty=1, token: str | None = None, **extra):
        return self.client.post(f"/t/{token or self.token}/cart/lines", headers=self._headers(),
                                json={"dish_id": dish_id, "qty": qty, **extra})

    def change(self, line_id, qty, version, token: str | None = None):
        return self.client.patch(f"/t/{token or self.token}/cart/lines/{line_id}", headers=self._headers(),
                                 json={"qty": qty, "version": version})

    def send(self, token: str | None = None):
        return self.client.post(f"/t/{token or self.token}/cart/send", headers=self._headers())

    def call_waiter(self, token: str | None = None):
        return self.client.post(f"/t/{token or self.token}/call-waiter", headers=self._headers(), json={})


@pytest.fixture
def shop(make, db):
    tenant = make.tenant()
    a01, a02 = create_table(make, tenant, "A01"), create_table(make, tenant, "A02")
    fish = create_dish(make, tenant, "剁椒鱼头", 12_800)
    beer = create_dish(make, tenant, "青岛啤酒", 1_200, category="酒水", discountable=False)
    return tenant, _token(a01), _token(a02), fish, beer


def test_the_menu_shows_categories_photos_prices_and_sold_out(shop, make):
    tenant, token, _other, fish, beer = shop
    api = make.api(tenant.owner)
    assert api.request("PUT", f"/stores/{tenant.store.id}/sold-out/{beer['id']}",
                       json={"is_sold_out": True}).status_code == 200
    phone = Phone(make.client, token)
    html = phone.html
    assert 'class="categories"' in html and "热菜" in html and "酒水" in html
    assert f'src="/t/{token}/photos/{fish["id"]}.svg"' in html and 'loading="lazy"' in html
    assert "￥128.00" in html
    assert 'data-search="剁椒鱼头 duojiaoyutou djyt"' in html  # pinyin and initials for the search box
    beer_card = re.search(rf'<article class="dish sold-out" data-dish="{beer["id"]}".*?</article>', html, re.S)
    assert beer_card and "已售罄" in beer_card.group(0) and "data-action" not in beer_card.group(0)
    photo = make.client.get(f"/t/{token}/photos/{fish['id']}.svg")
    assert photo.status_code == 200 and photo.mimetype == "image/svg+xml" and "剁椒" in photo.get_data(as_text=True)
    # A sold-out dish is refused, not just hidden.
    refused = phone.add(beer["id"])
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "dish_sold_out"


def test_members_see_their_price_beside_the_list_price(shop, make, db):
    from app.diner.service import member_price, menu_for
    from app.members.models import Member, Tier
    from app.tables.models import DiningTable

    tenant, token, _other, fish, beer = shop
    member = create_member(make, tenant)
    tier = Tier(merchant_id=tenant.merchant.id, name="测试金卡", rank=9, discount_percent=12)
    db.session.add(tier)
    db.session.flush()
    row = db.session.get(Member, member["id"])
    row.tier_id = tier.id
    db.session.commit()
    table = db.session.scalars(sa.select(DiningTable).where(DiningTable.code == "A01",
                                                           DiningTable.merchant_id == tenant.merchant.id)).one()
    prices = {d.name: (d.price_cents, d.member_price_cents)
              for section in menu_for(table, db.session.get(Member, member["id"]), lambda dish: "")
              for d in section["dishes"]}
    assert prices == {"剁椒鱼头": (12_800, 11_264), "青岛啤酒": (1_200, None)}  # beer is not discountable
    assert {d.member_price_cents for s in menu_for(table, None, lambda dish: "") for d in s["dishes"]} == {None}
    assert member_price(999, 12, True) == 999 - 119  # the discount floored to the fen, as the bill does


def test_a_stale_or_wrong_table_link_gets_a_friendly_page(shop, make):
    tenant, token, _other, _fish, _beer = shop
    for path in ("/t/not-a-token", f"/t/{token[:-2]}xx", "/t/x"):
        page = make.client.get(path)
        assert page.status_code == 404
        assert "请扫描桌上的二维码" in page.get_data(as_text=True)
    assert make.client.get(f"/t/{token}/cart.json").status_code == 200
    bad = make.client.get("/t/nope/cart.json")
    assert bad.status_code == 404 and bad.get_json()["error"]["code"] == "table_not_found"


def test_two_phones_share_one_cart_and_a_stale_change_gets_the_fresh_cart(shop, make, app):
    tenant, token, _other, fish, beer = shop
    one, two = Phone(make.client, token), Phone(app.test_client(), token)
    added = one.add(fish["id"])
    assert added.status_code == 201, added.get_json()
    line = added.get_json()["lines"][0]
    assert line["added_by"] == added.get_json()["me"] and line["added_by"].startswith("食客")  # no WeChat here
    assert two.add(beer["id"], 2).status_code == 201
    view = two.view().get_json()
    assert view["lines"][0]["dish_id"] == fish["id"]
    names = {entry["added_by"] for entry in view["lines"]}
    assert len(names) == 2 and view["me"] in names  # each phone's picks under its own name

    assert two.change(line["id"], 3, line["version"]).status_code == 200
    stale = one.change(line["id"], 5, line["version"])
    assert stale.status_code == 409
    body = stale.get_json()
    assert body["error"]["code"] == "cart_changed" and body["error"]["message"]
    fresh = next(entry for entry in body["cart"]["lines"] if entry["id"] == line["id"])
    assert fresh["qty"] == 3  # the stale change changed nothing; the phone is shown what is there now
    assert one.change(line["id"], 0, fresh["version"]).status_code == 200
    assert line["id"] not in [entry["id"] for entry in one.view().get_json()["lines"]]


def test_a_table_token_reaches_only_its_own_table(shop, make, app):
    tenant, token, other_token, fish, _beer = shop
    phone, neighbour = Phone(make.client, token), Phone(app.test_client(), other_token)
    line = phone.add(fish["id"]).get_json()["lines"][0]
    # The neighbouring table cannot see or change it, and sees its own empty cart.
    assert neighbour.view().get_json()["lines"] == []
    assert neighbour.change(line["id"], 9, line["version"]).status_code == 404
    assert neighbour.change(line["id"], 0, line["version"]).status_code == 404
    assert phone.view().get_json()["lines"][0]["qty"] == 1
    # Another merchant's dish and table: 404, nothing added.
    stranger = make.tenant()
    foreign_dish = create_dish(make, stranger, "外家菜", 1_000)
    foreign = _token(create_table(make, stranger, "Z9"))
    answer = phone.add(foreign_dish["id"])
    assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "not_found"
    assert make.client.get(f"/t/{token}/photos/{foreign_dish['id']}.svg").status_code == 404
    assert make.client.get(f"/t/{foreign}/photos/{fish['id']}.svg").status_code == 404
    assert phone.change(line["id"], 2, line["version"], token=foreign).status_code == 404
    assert make.db.session.scalar(sa.select(sa.func.count()).select_from(CartLine)) == 1


@pytest.mark.parametrize("body", [
    None, [], {"dish_id": "1", "qty": 1}, {"dish_id": 1, "qty": 0}, {"dish_id": 1, "qty": 100},
    {"dish_id": 1, "qty": 1, "option_ids": "x"}, {"dish_id": 2**40, "qty": 1}, {"dish_id": 1, "qty": 1, "extra": 1},
    {"dish_id": 1, "qty": 1, "note": "x" * 101},
])
def test_bad_picks_are_4xx_and_change_nothing(shop, make, body):
    _tenant, token, _other, _fish, _beer = shop
    phone = Phone(make.client, token)
    headers = {"X-CSRFToken": phone.csrf, "Accept": "application/json"}
    answer = make.client.post(f"/t/{token}/cart/lines", headers=headers,
                              data="not json" if body is None else json.dumps(body),
                              content_type="application/json")
    assert 400 <= answer.status_code < 500, answer.get_data(as_text=True)
    assert set(answer.get_json()["error"]) == {"code", "message", "details"}
    assert phone.view().get_json()["lines"] == []


def test_bad_changes_are_4xx(shop, make):
    _tenant, token, _other, fish, _beer = shop
    phone = Phone(make.client, token)
    line = phone.add(fish["id"]).get_json()["lines"][0]
    for body in ({"qty": -1, "version": 1}, {"qty": 1}, {"qty": 1, "version": 0}, {"qty": "2", "version": 1}):
        answer = make.client.patch(f"/t/{token}/cart/lines/{line['id']}", json=body,
                                   headers={"X-CSRFToken": phone.csrf})
        assert answer.status_code == 422, (body, answer.get_json())
    assert phone.change(99_999_999_999, 1, 1).status_code == 404
    assert phone.change(999_999, 1, 1).status_code == 404
    assert phone.send(token).status_code == 200
    assert phone.send(token).status_code == 422  # nothing left to send


def test_the_json_calls_need_the_pages_csrf_token(shop, make):
    _tenant, token, _other, fish, _beer = shop
    Phone(make.client, token)
    for answer in (make.client.post(f"/t/{token}/cart/lines", json={"dish_id": fish["id"], "qty": 1}),
                   make.client.post(f"/t/{token}/cart/send"),
                   make.client.post(f"/t/{token}/call-waiter", json={}),
                   make.client.post(f"/t/{token}/cart/lines", json={"dish_id": fish["id"], "qty": 1},
                                    headers={"X-CSRFToken": "forged"})):
        assert answer.status_code == 400
        assert answer.get_json()["error"]["code"] == "csrf_failed"
    assert make.db.session.scalar(sa.select(sa.func.count()).select_from(CartLine)) == 0


def test_send_goes_to_the_kitchen_or_waits_for_the_waiter_as_the_store_says(shop, make, db):
    tenant, token, _other, fish, _beer = shop
    api = make.api(tenant.owner)
    phone = Phone(make.client, token)
    phone.add(fish["id"])
    sent = phone.send().get_json()
    assert sent["sent"]["needs_confirmation"] is False and sent["lines"] == []
    assert [(line["name"], line["state"]) for line in sent["order"]["lines"]] == [("剁椒鱼头", "ordered")]

    changed = api.patch(f"/stores/{tenant.store.id}", json={"diner_orders_need_confirmation": True})
    assert changed.status_code == 200 and changed.get_json()["diner_orders_need_confirmation"] is True
    assert db.session.get(Store, tenant.store.id).is_waiter_confirm is True
    phone.add(fish["id"], 2)  # 加菜: more on the same order
    more = phone.send().get_json()
    assert more["sent"] == {"order_id": sent["sent"]["order_id"], "needs_confirmation": True}
    assert [line["state"] for line in more["order"]["lines"]] == ["ordered", "submitted"]
    # The waiter confirms: the phones show the dish ordered.
    submitted = [line["id"] for line in more["order"]["lines"] if line["state"] == "submitted"]
    confirmed = api.post(f"/orders/{more['order']['id']}/lines/confirm", json={"line_ids": submitted})
    assert confirmed.status_code == 200, confirmed.get_json()
    assert [line["state"] for line in phone.view().get_json()["order"]["lines"]] == ["ordered", "ordered"]
    assert api.patch(f"/stores/{tenant.store.id}", json={"diner_orders_need_confirmation": "maybe"}).status_code == 422


def test_calling_the_waiter_is_an_event_for_the_staff_screens(shop, make):
    tenant, token, _other, _fish, _beer = shop
    phone = Phone(make.client, token)
    assert phone.call_waiter().get_json() == {"called": True, "table": "A01"}
    events = make.api(tenant.owner).get(f"/stores/{tenant.store.id}/events",
                                        query_string={"kinds": "waiter_called"}).get_json()["events"]
    assert [(e["kind"], e["payload"]["table"]) for e in events] == [("waiter_called", "A01")]


def _read(response, count: int, timeout: float = 10.0, data: dict | None = None) -> list[tuple[int, str]]:
    """(id, event) of the first `count` messages of a stream; fails instead of hanging. `data`,
    when given, gets each message's data by id."""
    got, buffer, done = [], "", threading.Event()

    def pump():
        nonlocal buffer
        for chunk in response.response:
            buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
                if "event" in fields:
                    got.append((int(fields["id"]), fields["event"]))
                    if data is not None:
                        data[int(fields["id"])] = json.loads(fields["data"])
                    if len(got) >= count:
                        done.set()
                        return

    threading.Thread(target=pump, daemon=True).start()
    assert done.wait(timeout), f"only {got} arrived"
    return got


def test_the_table_stream_carries_only_its_tables_news_and_resumes_from_its_cursor(shop, make, app):
    tenant, token, other_token, fish, _beer = shop
    phone, neighbour = Phone(make.client, token), Phone(app.test_client(), other_token)
    start = phone.view().get_json()["seq"]
    neighbour.add(fish["id"])  # another table: nothing of it on this table's stream
    phone.add(fish["id"])
    neighbour.call_waiter()
    phone.send()
    phone.call_waiter()
    stream = app.test_client().get(f"/t/{token}/stream?after={start}")
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    data: dict[int, dict] = {}
    news = _read(stream, 4, data=data)
    stream.close()
    assert [name for _seq, name in news][:1] == ["cart"]
    assert {name for _seq, name in news} <= {"cart", "order", "waiter"}
    # A cart or order message brings this table's view as cart.json shows it (so the phones
    # need not ask for it): the pick sent from this table, nothing of the neighbour's.
    for seq, name in news:
        if name == "waiter":
            assert data[seq] == {}
            continue
        view = data[seq]
        assert view["seq"] == seq and "me" not in view
        assert view["lines"] == [] and [(line["name"], line["qty"]) for line in view["order"]["lines"]] == [
            (fish["name"], 1)]
        answered = phone.view().get_json()
        assert {k: v for k, v in view.items() if k != "seq"} == {
            k: v for k, v in answered.items() if k not in ("seq", "me")}
    seqs = [seq for seq, _name in news]
    assert seqs == sorted(seqs)
    ours = make.db.session.scalars(sa.select(StoreEvent).where(StoreEvent.seq.in_(seqs))).all()
    assert {e.payload.get("table") for e in ours} <= {None, "A01"}
    assert len({e.payload["table_id"] for e in ours if "table_id" in e.payload}) == 1
    # A reconnect with Last-Event-ID gets what came after it, and nothing before.
    again = app.test_client().get(f"/t/{token}/stream", headers={"Last-Event-ID": str(seqs[1])})
    rest = _read(again, 2)
    again.close()
    assert rest == news[2:4]
    waiter = make.db.session.scalars(sa.select(StoreEvent).where(StoreEvent.kind == EventKind.WAITER_CALLED)
                                     .order_by(StoreEvent.seq)).all()
    assert waiter[0].seq not in seqs and waiter[1].seq in seqs  # the neighbour's call stays at the neighbour's


def test_sign_in_through_wechat_puts_the_nickname_on_the_picks(make, oa):  # noqa: F811
    table = create_table(make, oa.tenant, code="B01")
    fish = create_dish(make, oa.tenant, "小炒黄牛肉", 6_800)
    openid = oa.sim.state.create_user("阿强", subscribed=False).openid
    page = sign_in(make.client, oa.sim, f"/t/{_token(table)}", openid)
    assert page.status_code == 200 and "你是 阿强" in page.get_data(as_text=True)
    phone = Phone(make.client, _token(table))
    added = phone.add(fish["id"])
    assert added.status_code == 201 and added.get_json()["lines"][0]["added_by"] == "阿强"
    # Without a WeChat sign-in the merchant's table refuses picks.
    stranger = make.client.application.test_client()
    assert stranger.get(f"/t/{_token(table)}").status_code == 302
    assert stranger.post(f"/t/{_token(table)}/cart/lines", json={"dish_id": fish["id"], "qty": 1}).status_code in (
        400, 401)


def _log_in(make, staff) -> None:
    page = make.client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    answer = make.client.post("/login", data={"username": staff.username, "password": make.PASSWORD,
                                              "csrf_token": csrf})
    assert answer.status_code == 302


def test_the_manager_switches_waiter_confirmation_on_a_page(shop, make, db):
    from app.audit.models import AuditEntry

    tenant, _token_a, _other, _fish, _beer = shop
    path = f"/manage/stores/{tenant.store.id}/ordering"
    assert make.client.get(path).status_code == 302  # to the login page
    _log_in(make, tenant.owner)
    page = make.client.get(path).get_data(as_text=True)
    assert 'name="diner_orders_need_confirmation"' in page and "checked" not in page
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    assert make.client.post(path, data={"diner_orders_need_confirmation": "y"}).status_code == 400  # no CSRF token
    assert db.session.get(Store, tenant.store.id).is_waiter_confirm is False
    saved = make.client.post(path, data={"csrf_token": csrf, "diner_orders_need_confirmation": "y"})
    assert saved.status_code == 302
    db.session.commit()
    assert db.session.get(Store, tenant.store.id).is_waiter_confirm is True
    assert "checked" in make.client.get(path).get_data(as_text=True)
    assert make.api(tenant.owner).get(f"/stores/{tenant.store.id}").get_json()["diner_orders_need_confirmation"]
    assert make.client.post(path, data={"csrf_token": csrf}).status_code == 302  # unticked: off again
    db.session.commit()
    assert db.session.get(Store, tenant.store.id).is_waiter_confirm is False
    assert db.session.query(AuditEntry).filter_by(action="store.update").count() == 2
    # Another merchant's store: 404; a cashier may not change it.
    stranger = make.tenant()
    assert make.client.get(f"/manage/stores/{stranger.store.id}/ordering").status_code == 404


def test_the_member_card_shows_balances_expiring_points_and_a_refunded_visit_as_refunded(make, oa):  # noqa: F811
    import uuid

    from app.members.models import Member

    api = make.api(oa.tenant.owner)
    fish = create_dish(make, oa.tenant, "剁椒鱼头", 12_800)
    rice = create_dish(make, oa.tenant, "米饭", 300, category="主食")
    member = create_member(make, oa.tenant, phone="13800001111", name="周周")
    topped = api.post(f"/members/{member['id']}/topups", json={"amount_cents": 50_000, "tender": "cash",
                                                                "idempotency_key": uuid.uuid4().hex})
    assert topped.status_code == 201, topped.get_json()
    openid = oa.sim.state.create_user("周周", subscribed=True).openid
    make.db.session.get(Member, member["id"]).openid = openid
    make.db.session.commit()

    def visit(*items):
        order = api.post("/orders", json={"store_id": oa.tenant.store.id, "idempotency_key": uuid.uuid4().hex,
                                          "items": [{"dish_id": d["id"], "qty": q} for d, q in items]}).get_json()
        paid = api.post(f"/orders/{order['id']}/settle", json={
            "tenders": [{"type": "cash", "amount_cents": order["subtotal_cents"]}], "member_id": member["id"],
            "idempotency_key": uuid.uuid4().hex})
        assert paid.status_code == 200, paid.get_json()
        return paid.get_json()

    kept = visit((rice, 2))
    refunded = visit((fish, 1))
    answer = api.post(f"/orders/{refunded['id']}/refund",
                      json={"reason": "菜品问题", "idempotency_key": uuid.uuid4().hex})
    assert answer.status_code == 200, answer.get_json()

    page = sign_in(make.client, oa.sim, f"/m/card?merchant={oa.merchant_id}", openid)
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html[:500]
    card = api.get(f"/members/{member['id']}").get_json()
    total = card["stored_value"]["total_cents"]
    assert f'id="stored-value">￥{total // 100}.{total % 100:02d}<' in html
    assert "本金 ￥500.00" in html and "赠送 ￥" in html
    assert f'id="points">{card["points"]}<' in html
    assert "积分将于" in html  # the points earned expire, and the card says when
    visits = html[html.index('id="visits"'):]
    refunded_row = visits[:visits.index("</li>")]  # newest first: the refunded visit
    assert "已退款" in refunded_row and "<s>￥128.00</s>" in refunded_row and "剁椒鱼头" in refunded_row
    assert "+128" not in refunded_row and "积分" not in refunded_row.split("items")[-1]
    kept_row = visits[visits.index("</li>") + 5:]
    kept_row = kept_row[:kept_row.index("</li>")]
    assert "￥6.00" in kept_row and "+6 积分" in kept_row and "已退款" not in kept_row
    assert card["points"] == kept["paid_cents"] // 100


def test_the_coupon_wallet_shows_rules_and_passes_a_coupon_on_within_its_chain(make, oa, app):  # noqa: F811
    from app.coupons.models import Coupon, CouponStatus
    from app.members.models import Member
    from tests.factories import create_coupon_template, issue_coupon

    giver = create_member(make, oa.tenant, phone="13800003333", name="王大")
    friend = create_member(make, oa.tenant, phone="13800004444", name="李二")
    stranger_tenant = make.tenant()
    outsider = create_member(make, stranger_tenant, phone="13800005555", name="外人")
    passable = create_coupon_template(make, oa.tenant, name="满100减20", value_cents=2000, min_spend_cents=10_000,
                                      is_transferable=True, max_transfer_chain=1)
    kept = create_coupon_template(make, oa.tenant, name="10元券", value_cents=1000)
    gift = issue_coupon(make, oa.tenant, giver["id"], passable["id"])
    issue_coupon(make, oa.tenant, giver["id"], kept["id"])
    foreign = issue_coupon(make, stranger_tenant, outsider["id"])
    openids = {}
    for member, nickname in ((giver, "大王"), (friend, "小李")):
        openids[member["id"]] = oa.sim.state.create_user(nickname, subscribed=True).openid
        make.db.session.get(Member, member["id"]).openid = openids[member["id"]]
    make.db.session.commit()

    page = sign_in(make.client, oa.sim, f"/m/coupons?merchant={oa.merchant_id}", openids[giver["id"]])
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html[:400]
    assert html.count('class="coupon usable"') == 2 and "满100减20" in html and "有效期至" in html
    assert html.count("转赠好友") == 1  # only the transferable one
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    key = re.search(r'name="key"[^>]*value="([^"]+)"', html).group(1)

    def give(coupon_id, phone, client=None, **extra):
        return (client or make.client).post(f"/m/coupons/{coupon_id}/transfer",
                                            data={"csrf_token": csrf, "key": key, "phone": phone, **extra})

    assert make.client.post(f"/m/coupons/{gift['id']}/transfer", data={"key": key, "phone": "13800004444"}
                            ).status_code == 400  # no CSRF token
    bad = give(gift["id"], "123")
    assert bad.status_code == 422 and "11" in bad.get_data(as_text=True)
    nobody = give(gift["id"], "13999999999")
    assert nobody.status_code == 404 and "请好友先成为会员" in nobody.get_data(as_text=True)
    assert give(foreign["id"], "13800004444").status_code == 404  # not the member's coupon
    assert give(gift["id"], "13800003333").status_code == 422  # to oneself
    assert make.db.session.get(Coupon, gift["id"]).state is CouponStatus.ISSUED

    done = give(gift["id"], "13800004444")
    assert done.status_code == 302
    again = give(gift["id"], "13800004444")  # the same form twice (a double tap): one transfer
    assert again.status_code == 302
    make.db.session.commit()
    received = make.db.session.scalars(sa.select(Coupon).where(Coupon.member_id == friend["id"])).all()
    assert len(received) == 1 and received[0].transfer_depth == 1
    after = make.client.get("/m/coupons").get_data(as_text=True)
    assert "优惠券已转赠给好友" in after and "已转赠给 李*" in after

    # The friend sees it, from whom; the chain limit (1) stops it there.
    other = app.test_client()
    theirs = sign_in(other, oa.sim, f"/m/coupons?merchant={oa.merchant_id}", openids[friend["id"]])
    text = theirs.get_data(as_text=True)
    assert "来自 王* 的转赠" in text and "转赠好友" not in text
    assert 'name="csrf_token"' not in text  # no form to pass it on at all
    # The friend's WeChat says a coupon arrived.
    deliver()
    assert templates_in(oa.sim, openids[friend["id"]], "TPL_COUPON")


def test_a_member_pays_the_tables_bill_with_stored_value_once_after_confirming(make, oa):  # noqa: F811
    import uuid

    from app.members.models import Member
    from app.orders.models import Order, Payment

    api = make.api(oa.tenant.owner)
    table = create_table(make, oa.tenant, code="C01")
    other_table = create_table(make, oa.tenant, code="C02")
    fish = create_dish(make, oa.tenant, "剁椒鱼头", 12_800)
    member = create_member(make, oa.tenant, phone="13800006666", name="钱多多")
    assert api.post(f"/members/{member['id']}/topups", json={"amount_cents": 50_000, "tender": "cash",
                                                              "idempotency_key": uuid.uuid4().hex}).status_code == 201
    openid = oa.sim.state.create_user("多多", subscribed=True).openid
    make.db.session.get(Member, member["id"]).openid = openid
    make.db.session.commit()
    token = _token(table)
    sign_in(make.client, oa.sim, f"/t/{token}", openid)
    phone = Phone(make.client, token)
    phone.add(fish["id"])
    order_id = phone.send().get_json()["sent"]["order_id"]

    bill = make.client.get(f"/t/{token}/bill?order={order_id}").get_data(as_text=True)
    assert 'id="pay-stored-value"' in bill and "储值支付" in bill
    confirm = make.client.get(f"/t/{token}/bill?order={order_id}&pay=stored_value").get_data(as_text=True)
    assert "确认用储值支付 ￥128.00" in confirm
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', confirm))
    assert set(form) == {"csrf_token", "order_id", "payable_cents", "key"}
    path = f"/t/{token}/bill/stored-value"

    def charges() -> int:
        make.db.session.commit()
        return make.db.session.scalar(sa.select(sa.func.count()).select_from(Payment).where(
            Payment.order_id == order_id))

    assert make.client.post(path, data={**form, "csrf_token": ""}).status_code == 400
    assert make.client.post(f"/t/{_token(other_table)}/bill/stored-value", data=form).status_code == 404
    changed = make.client.post(path, data={**form, "payable_cents": "100"}, follow_redirects=True)
    assert "账单刚刚有变化" in changed.get_data(as_text=True) and charges() == 0

    paid = make.client.post(path, data=form, follow_redirects=True)
    assert "已用储值支付" in paid.get_data(as_text=True) and 'id="paid"' in paid.get_data(as_text=True)
    twice = make.client.post(path, data=form, follow_redirects=True)  # the same confirmation again
    assert twice.status_code == 200 and charges() == 1
    assert make.db.session.get(Order, order_id).status.label == "paid"
    card = api.get(f"/members/{member['id']}").get_json()
    assert card["stored_value"]["total_cents"] == 50_000 + 5_000 - 12_800  # demo rule: 500 gets 50 more
    # The table's phones see the order paid (the session closed; the phone still knows its order).
    assert phone.client.get(f"/t/{token}/cart.json?order={order_id}").get_json()["paid"] is True
