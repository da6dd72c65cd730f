"""Two phones at one table, in real Chromium against the WeChat simulator: both scan the table's
code and sign in with WeChat (their nicknames come from WeChat), both pick dishes into the one
shared cart and each sees the other's pick arrive live with its name; a stale change gets the
fresh cart; one sends; the kitchen has the ticket and both phones show the dishes' state; a
waiter call reaches the store's event log. Screenshots of the phone go to docs/screenshots."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.demo.seed import PASSWORD, _demo_table, load_demo
from app.events.models import EventKind, StoreEvent
from app.tables.service import table_token
from tests import wechat_pay_support as support
from tests.e2e.conftest import log_in, screenshots_dir

pay_sim, live_url, wechat = support.pay_sim, support.live_url, support.wechat  # the fixtures

SHOTS = screenshots_dir()
PHONE = {"width": 360, "height": 780}


@pytest.fixture(autouse=True)
def _streams_end_with_the_test(app):
    """Each test starts with no store feed left from an earlier one (a fresh database starts the
    store's log again at 1, which a feed still holding the earlier test's events would not
    know), and a short heartbeat lets the server notice a closed browser soon."""
    import time

    from app.events import feed

    def feeds_gone() -> None:  # an earlier test's streams end at their next heartbeat
        deadline = time.monotonic() + 30
        while any(key[0] is app for key in list(feed._feeds)) and time.monotonic() < deadline:
            time.sleep(0.05)

    feeds_gone()
    saved = app.config["EVENT_HEARTBEAT_SECONDS"]
    app.config["EVENT_HEARTBEAT_SECONDS"] = 0.5
    yield
    feeds_gone()
    app.config["EVENT_HEARTBEAT_SECONDS"] = saved


def _owner_api(make):
    """The demo owner's API client, logged in with the demo password."""
    token = make.client.post("/api/v1/auth/token", json={"username": "owner", "password": PASSWORD})
    return make.api(token=token.get_json()["token"])


def _sign_in(browser, live_url: str, token: str, nickname: str):
    context = browser.new_context(locale="zh-CN", viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    phone = context.new_page()
    phone.goto(f"{live_url}/t/{token}")
    phone.fill("input[name=nickname]", nickname)  # the simulator's WeChat sign-in page
    phone.click("button[type=submit]")
    phone.wait_for_url(f"{live_url}/t/{token}#*")  # WeChat's redirect keeps its #wechat_redirect
    phone.locator("#menu-app").wait_for()
    return phone


def _dish_card(phone, name: str):
    return phone.locator("article.dish", has=phone.get_by_role("heading", name=name, exact=True))


@pytest.mark.e2e
def test_two_phones_share_one_cart_live_and_send_it(app, make, wechat, live_url, browser):
    load_demo(member_count=40)
    table = _demo_table()
    token = table_token(table)
    store_id, table_id = table.store_id, table.id
    make.db.session.commit()

    wang = _sign_in(browser, live_url, token, "小王")
    li = _sign_in(browser, live_url, token, "小李")
    assert "你是 小王" in wang.content() and "你是 小李" in li.content()
    wang.screenshot(path=str(SHOTS / "diner-menu.png"))

    # 小王 adds a dish without specs; 小李's phone shows it, with 小王's name, by itself.
    _dish_card(wang, "凉拌黄瓜").locator("button.plus").click()
    li.locator("#cart-count").filter(has_text="1").wait_for(timeout=5_000)
    li.locator("#cart-who").filter(has_text="小王").wait_for()
    li.locator(".toast").filter(has_text="小王 加了 凉拌黄瓜").wait_for()

    # 小李 picks a dish with specs (spice level); 小王 sees it.
    _dish_card(li, "辣椒炒肉").get_by_role("button", name="选规格").click()
    li.locator("#spec-groups label", has_text="微辣").click()
    li.get_by_role("button", name="加入购物车").click()
    wang.locator("#cart-count").filter(has_text="2").wait_for(timeout=5_000)
    wang.get_by_role("button", name="选好了").click()
    lines = wang.locator("#cart-lines li")
    lines.filter(has_text="辣椒炒肉").filter(has_text="小李 点的").wait_for()
    lines.filter(has_text="凉拌黄瓜").filter(has_text="小王 (我) 点的").wait_for()
    assert "微辣" in lines.filter(has_text="辣椒炒肉").inner_text()
    wang.screenshot(path=str(SHOTS / "diner-shared-cart.png"))

    # 小王 takes a second cucumber from the cart sheet; 小李's phone follows.
    wang.locator("#cart-lines li").filter(has_text="凉拌黄瓜").get_by_role("button", name="+").click()
    li.locator("#cart-count").filter(has_text="3").wait_for(timeout=5_000)
    li.get_by_role("button", name="选好了").click()
    li.locator("#cart-lines li").filter(has_text="凉拌黄瓜").locator(".n").filter(has_text="2").wait_for()

    # 小李 sends: straight to the kitchen (the store does not ask for confirmation).
    li.get_by_role("button", name="下单，送厨房").click()
    li.locator(".toast").filter(has_text="已下单").wait_for(timeout=5_000)
    for phone in (wang, li):
        phone.locator("#ordered li").filter(has_text="凉拌黄瓜").filter(has_text="已下单").wait_for(timeout=5_000)
        phone.locator("#cart-count").filter(has_text="0").wait_for()
    if wang.locator("#sheet-back").is_visible():
        wang.locator("#sheet-back").click(position={"x": 20, "y": 20})
    wang.screenshot(path=str(SHOTS / "diner-ordered.png"))

    # The kitchen has the ticket; the waiter call is in the store's log for the staff screens.
    make.db.session.commit()
    kinds = [e.kind for e in make.db.session.scalars(sa.select(StoreEvent).where(StoreEvent.store_id == store_id))]
    assert EventKind.TICKET_NEW in kinds
    wang.get_by_role("button", name="呼叫服务员").click()
    li.locator(".toast").filter(has_text="服务员马上就到").wait_for(timeout=5_000)
    make.db.session.commit()
    called = make.db.session.scalars(sa.select(StoreEvent).where(
        StoreEvent.store_id == store_id, StoreEvent.kind == EventKind.WAITER_CALLED)).all()
    assert [(e.payload["table_id"], e.payload["diner"]) for e in called] == [(table_id, "小王")]

    # 催菜 beside 呼叫服务员 once a dish is in the kitchen: the kitchen hears it once; a second
    # press at once is refused in the diner's words and adds nothing.
    wang.get_by_role("button", name="催菜").click()
    wang.locator(".toast").filter(has_text="已催菜").wait_for(timeout=5_000)
    wang.screenshot(path=str(SHOTS / "diner-rush.png"))
    wang.get_by_role("button", name="催菜").click()
    wang.locator(".toast").filter(has_text="刚刚已经催过菜了").wait_for(timeout=5_000)
    make.db.session.commit()
    rushed = make.db.session.scalars(sa.select(StoreEvent).where(
        StoreEvent.store_id == store_id, StoreEvent.kind == EventKind.ORDER_RUSHED)).all()
    assert len(rushed) == 1 and rushed[0].payload["table"] == "A01"


@pytest.mark.e2e
def test_with_waiter_confirmation_on_the_phone_shows_the_dishes_waiting(app, make, wechat, live_url, browser):
    load_demo(member_count=40)
    table = _demo_table()
    token, store_id = table_token(table), table.store_id
    make.db.session.commit()

    # The manager switches it on, on the store's page.
    manager = browser.new_context(locale="zh-CN", viewport={"width": 1024, "height": 640}).new_page()
    log_in(manager, live_url, "owner", PASSWORD, f"/manage/stores/{store_id}/ordering")
    manager.get_by_label("食客扫码下单后，先由服务员确认再送厨房").check()
    manager.get_by_role("button", name="保存").click()
    manager.get_by_text("已保存。").wait_for()
    assert manager.get_by_label("食客扫码下单后，先由服务员确认再送厨房").is_checked()
    manager.screenshot(path=str(SHOTS / "store-ordering-settings.png"))

    phone = _sign_in(browser, live_url, token, "老陈")
    _dish_card(phone, "凉拌黄瓜").locator("button.plus").click()
    phone.locator("#cart-count").filter(has_text="1").wait_for()
    phone.get_by_role("button", name="选好了").click()
    phone.get_by_role("button", name="提交给服务员确认").click()
    phone.locator(".toast").filter(has_text="服务员确认后送厨房").wait_for(timeout=5_000)
    phone.locator("#ordered li").filter(has_text="凉拌黄瓜").filter(has_text="待服务员确认").wait_for()
    # The waiter confirms at the till: the phone turns the dish to 已下单 by itself.
    make.db.session.commit()
    answer = make.client.post("/api/v1/auth/token", json={"username": "owner", "password": PASSWORD})
    staff_api = make.api(token=answer.get_json()["token"])
    order_id = staff_api.get(f"/tables/{table.id}/cart").get_json()["order_id"]
    lines = staff_api.get(f"/orders/{order_id}").get_json()["items"]
    confirmed = staff_api.post(f"/orders/{order_id}/lines/confirm", json={"line_ids": [line["id"] for line in lines]})
    assert confirmed.status_code == 200, confirmed.get_json()
    phone.locator("#ordered li").filter(has_text="凉拌黄瓜").filter(has_text="已下单").wait_for(timeout=5_000)


@pytest.mark.e2e
def test_join_at_the_table_then_the_card_and_the_member_prices(app, make, wechat, live_url, browser):
    import uuid

    load_demo(member_count=40)
    table = _demo_table()
    token, store_id = table_token(table), table.store_id
    make.db.session.commit()
    staff = _owner_api(make)

    phone = _sign_in(browser, live_url, token, "周周")
    phone.get_by_role("link", name="成为会员，享会员价和积分").click()
    phone.fill("input[name=phone]", "13900002222")
    phone.fill("input[name=name]", "周小舟")
    phone.get_by_role("button", name="立即加入").click()
    phone.wait_for_url(f"{live_url}/m/card*")
    assert phone.locator("#tier").inner_text() == "普通会员"

    # A top-up at the till (3000 yuan: 金卡, 8.8折, 600 bonus), a visit, and a refunded visit.
    member_id = staff.get("/members", query_string={"q": "13900002222"}).get_json()["members"][0]["id"]
    assert staff.post(f"/members/{member_id}/topups", json={
        "amount_cents": 300_000, "tender": "cash", "idempotency_key": uuid.uuid4().hex}).status_code == 201
    dishes = {d["name"]: d for s in staff.get("/menu", query_string={"store_id": store_id}).get_json()["categories"]
              for d in s["dishes"]}

    def visit(name: str) -> dict:
        order = staff.post("/orders", json={"store_id": store_id, "idempotency_key": uuid.uuid4().hex,
                                            "items": [{"dish_id": dishes[name]["id"], "qty": 1}]}).get_json()
        bill = staff.get(f"/orders/{order['id']}/bill", query_string={"member_id": member_id}).get_json()
        paid = staff.post(f"/orders/{order['id']}/settle", json={
            "tenders": [{"type": "stored_value", "amount_cents": bill["payable_cents"]}], "member_id": member_id,
            "idempotency_key": uuid.uuid4().hex})
        assert paid.status_code == 200, paid.get_json()
        return paid.get_json()

    visit("卤味拼盘")
    wrong = visit("口水鸡")
    assert staff.post(f"/orders/{wrong['id']}/refund", json={
        "reason": "上错菜", "idempotency_key": uuid.uuid4().hex}).status_code == 200

    phone.reload()
    assert phone.locator("#tier").inner_text() == "金卡"
    assert "8.8折" in phone.locator("#discount").inner_text()
    split = phone.locator("#stored-split").inner_text()  # what the visit drew came from both, in proportion
    assert split.startswith("本金 ￥29") and "赠送 ￥59" in split
    refunded = phone.locator("#visits li.refunded")
    assert "已退款" in refunded.inner_text() and "口水鸡" in refunded.inner_text()
    assert "积分" not in refunded.inner_text()
    phone.screenshot(path=str(SHOTS / "diner-member-card.png"), full_page=True)

    # Back at the table: the member's price beside each discountable dish.
    phone.goto(f"{live_url}/t/{token}")
    cucumber = _dish_card(phone, "凉拌黄瓜")
    assert "会员 ￥14.08" in cucumber.inner_text() and "￥16.00" in cucumber.inner_text()
    assert "金卡" in phone.locator(".member-strip").inner_text()
    phone.screenshot(path=str(SHOTS / "diner-menu-member.png"))


def _join(phone, live_url: str, mobile: str, name: str) -> None:
    phone.get_by_role("link", name="成为会员，享会员价和积分").click()
    phone.fill("input[name=phone]", mobile)
    phone.fill("input[name=name]", name)
    phone.get_by_role("button", name="立即加入").click()
    phone.wait_for_url(f"{live_url}/m/card*")


@pytest.mark.e2e
def test_a_coupon_passed_to_a_friend_at_the_table_and_used_at_settle(app, make, wechat, live_url, browser):
    import uuid

    load_demo(member_count=40)
    table = _demo_table()
    token, store_id = table_token(table), table.store_id
    make.db.session.commit()
    staff = _owner_api(make)

    giver, friend = _sign_in(browser, live_url, token, "大刘"), _sign_in(browser, live_url, token, "小美")
    _join(giver, live_url, "13900003333", "刘大")
    _join(friend, live_url, "13900004444", "美美")
    giver_id = staff.get("/members", query_string={"q": "13900003333"}).get_json()["members"][0]["id"]
    friend_id = staff.get("/members", query_string={"q": "13900004444"}).get_json()["members"][0]["id"]
    template = staff.post("/coupon-templates", json={
        "name": "满100减20", "kind": "cash", "value_cents": 2000, "min_spend_cents": 10_000, "valid_days": 30,
        "is_transferable": True, "max_transfer_chain": 1}).get_json()
    other = staff.post("/coupon-templates", json={"name": "饮品8折", "kind": "percent", "percent_off": 20,
                                                  "valid_days": 7}).get_json()
    for template_id in (template["id"], other["id"]):
        assert staff.post(f"/members/{giver_id}/coupons", json={
            "template_id": template_id, "idempotency_key": uuid.uuid4().hex}).status_code == 201

    giver.get_by_role("link", name="我的优惠券").click()
    giver.locator("#coupons li").first.wait_for()
    giver.get_by_text("转赠好友").click()
    giver.get_by_label("好友的手机号").fill("13900004444")
    giver.screenshot(path=str(SHOTS / "diner-coupon-wallet.png"), full_page=True)
    giver.get_by_role("button", name="转赠", exact=True).click()
    giver.get_by_text("优惠券已转赠给好友。").wait_for()
    assert "已转赠给 美*" in giver.locator("#coupons").inner_text()

    friend.goto(f"{live_url}/m/coupons")
    received = friend.locator("#coupons li.usable")
    assert "来自 刘* 的转赠" in received.inner_text() and "转赠好友" not in received.inner_text()

    # The friend's table order is settled with it at the till.
    coupon_id = int(received.get_attribute("data-coupon"))
    dishes = {d["name"]: d for s in staff.get("/menu", query_string={"store_id": store_id}).get_json()["categories"]
              for d in s["dishes"]}
    order = staff.post("/orders", json={"store_id": store_id, "idempotency_key": uuid.uuid4().hex,
                                        "items": [{"dish_id": dishes["卤味拼盘"]["id"], "qty": 3}]}).get_json()
    bill = staff.get(f"/orders/{order['id']}/bill", query_string={
        "member_id": friend_id, "coupon_ids": str(coupon_id)}).get_json()
    paid = staff.post(f"/orders/{order['id']}/settle", json={
        "tenders": [{"type": "cash", "amount_cents": bill["payable_cents"]}], "member_id": friend_id,
        "coupon_ids": [coupon_id], "idempotency_key": uuid.uuid4().hex})
    assert paid.status_code == 200, paid.get_json()
    assert bill["subtotal_cents"] - bill["payable_cents"] >= 2000
    friend.reload()
    assert "已使用" in friend.locator(f"#coupons li[data-coupon='{coupon_id}']").inner_text()


@pytest.mark.e2e
def test_one_phone_pays_with_stored_value_and_the_other_turns_paid(app, make, wechat, live_url, browser):
    import uuid

    load_demo(member_count=40)
    table = _demo_table()
    token = table_token(table)
    make.db.session.commit()
    staff = _owner_api(make)

    payer, friend = _sign_in(browser, live_url, token, "阿伟"), _sign_in(browser, live_url, token, "阿芳")
    _join(payer, live_url, "13900005555", "张伟")
    member_id = staff.get("/members", query_string={"q": "13900005555"}).get_json()["members"][0]["id"]
    assert staff.post(f"/members/{member_id}/topups", json={
        "amount_cents": 50_000, "tender": "cash", "idempotency_key": uuid.uuid4().hex}).status_code == 201

    _dish_card(friend, "卤味拼盘").locator("button.plus").click()
    friend.locator("#cart-count").filter(has_text="1").wait_for()
    friend.get_by_role("button", name="选好了").click()
    friend.get_by_role("button", name="下单，送厨房").click()
    friend.locator("#ordered li").filter(has_text="卤味拼盘").wait_for(timeout=5_000)

    payer.goto(f"{live_url}/t/{token}")
    payer.locator("#ordered li").filter(has_text="卤味拼盘").wait_for(timeout=5_000)
    payer.get_by_role("link", name="查看账单").click()
    payer.get_by_role("link", name="储值支付").click()
    payer.get_by_text("确认用储值支付 ￥38.00？支付后余额 ￥512.00。").wait_for()
    payer.screenshot(path=str(SHOTS / "diner-bill-stored-value.png"), full_page=True)
    payer.get_by_role("button", name="确认支付 ￥38.00").click()
    payer.locator("#paid").wait_for()
    assert "已用储值支付" in payer.content()
    # The other phone, still on the menu, turns paid by itself.
    friend.locator("#ordered-note").filter(has_text="已支付").wait_for(timeout=5_000)
