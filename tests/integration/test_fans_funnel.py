"""The whole loop on the WeChat simulator, without a browser: the manager makes a wheel and a
poster on the pages, the poster's scene QR is scanned (follow → the automatic reply links the
wheel), the diner spins, joins, the coupon is redeemed at the till by its code, and the funnel on
the manager's page counts every step with the prize cost against the revenue."""

from __future__ import annotations

import re
import uuid

import sqlalchemy as sa

from app.coupons.models import Coupon, CouponStatus
from app.fans.funnel import poster_funnel
from app.fans.models import FanPoster, LuckyWheel, WheelPlay
from app.members.models import Member
from tests.factories import create_coupon_template, create_dish
from tests.integration.test_member_pages import EN, _csrf, log_in, page
from tests.integration.wechat_support import inbox, new_user, scan, sign_in


def _make_wheel_on_the_page(make, tenant) -> LuckyWheel:
    template = create_coupon_template(make, tenant, name="开业满减券", value_cents=2_000, min_spend_cents=5_000)
    html = page(make, "/manage/fans/wheels/new")
    form = {"csrf_token": _csrf(html), "name": "开业大转盘", "name_en": "Opening wheel", "audience": "anyone",
            "per_person_total": "3", "per_person_daily": "1", "is_active": "1",
            "prize-0-kind": "coupon", "prize-0-label": "20元券", "prize-0-coupon": str(template["id"]),
            "prize-0-chance": "100", "prize-0-stock": "10"}
    response = make.client.post("/manage/fans/wheels/new", data=form, headers=EN)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return make.db.session.scalar(sa.select(LuckyWheel).where(LuckyWheel.merchant_id == tenant.merchant.id))


def test_poster_scan_follow_spin_join_redeem_and_the_funnel(make, oa):
    tenant = oa.tenant
    log_in(make, tenant.owner)
    wheel = _make_wheel_on_the_page(make, tenant)
    assert [p.kind.label for p in wheel.prizes] == ["coupon", "nothing"]  # 谢谢参与 added
    html = page(make, "/manage/fans/")
    response = make.client.post("/manage/fans/posters", data={
        "csrf_token": _csrf(html), "name": "门口海报", "headline": "扫码抽好礼", "target": f"wheel-{wheel.id}",
        "store_id": str(tenant.store.id)}, headers=EN)
    assert response.status_code == 302
    poster = make.db.session.scalar(sa.select(FanPoster))
    # The printable sheet asks WeChat for the scene code once and prints it as SVG.
    sheet = page(make, f"/manage/fans/posters/{poster.id}/sheet")
    assert "<svg" in sheet and "扫码抽好礼" in sheet
    make.db.session.expire_all()
    poster = make.db.session.get(FanPoster, poster.id)
    assert poster.qr_url and "/q/" in poster.qr_url

    # A WeChat user scans the poster: follow, and the reply links the wheel.
    openid = new_user(oa.sim, "小红", subscribed=False)
    scan(make.db, oa.sim, openid, url=poster.qr_url)
    (reply,) = [m for m in inbox(oa.sim, openid) if m["kind"] == "reply"]
    link = reply["articles"][0]["Url"]
    assert link.endswith(f"/w/{wheel.code}")
    scan(make.db, oa.sim, openid, url=poster.qr_url)  # a second scan: a SCAN, not a follow

    # The phone opens the link, signs in through WeChat and spins.
    client = make.client.application.test_client()
    wheel_page = sign_in(client, oa.sim, f"/w/{wheel.code}", openid)
    assert wheel_page.status_code == 200
    token = re.search(r'data-csrf="([^"]+)"', wheel_page.get_data(as_text=True)).group(1)
    body = client.post(f"/w/{wheel.code}/spin", json={"draw_id": uuid.uuid4().hex},
                       headers={"X-CSRFToken": token}).get_json()
    assert body["is_win"] and body["needs_join"]
    join_page = client.get(body["claim_url"], follow_redirects=True)
    joined = client.post(join_page.request.full_path.rstrip("?"), data={
        "csrf_token": _csrf(join_page.get_data(as_text=True)), "phone": "13811112222", "name": "小红"},
        follow_redirects=True)
    assert joined.status_code == 200 and "CP" in joined.get_data(as_text=True)  # the wallet shows the code
    make.db.session.expire_all()
    coupon = make.db.session.scalar(sa.select(Coupon))
    member = make.db.session.get(Member, coupon.member_id)
    assert member.source_campaign == poster.scene.removeprefix("campaign_")  # attributed to the poster

    # At the till: the coupon's code is scanned and the bill settled with it.
    api = make.api(tenant.owner)
    looked_up = api.get("/coupons/lookup", query_string={"code": coupon.code.lower()}).get_json()
    dish = create_dish(make, tenant, "剁椒鱼头", 12_800)
    order = api.post("/orders", json={"store_id": tenant.store.id, "idempotency_key": uuid.uuid4().hex,
                                      "items": [{"dish_id": dish["id"], "qty": 1}]}).get_json()
    settled = api.post(f"/orders/{order['id']}/settle", json={
        "member_id": looked_up["member_id"], "coupon_ids": [looked_up["id"]],
        "tenders": [{"type": "cash", "amount_cents": 20_000}], "idempotency_key": uuid.uuid4().hex})
    assert settled.status_code == 200, settled.get_json()
    paid = settled.get_json()["payable_cents"]
    make.db.session.expire_all()
    assert make.db.session.get(Coupon, coupon.id).state is CouponStatus.REDEEMED

    funnel = poster_funnel(make.db.session.get(FanPoster, poster.id))
    assert funnel.steps == [2, 1, 1, 1, 1, 1]
    assert funnel.revenue_cents == paid and funnel.cost_cents == 2_000
    play = make.db.session.scalar(sa.select(WheelPlay))
    assert play.poster_id == poster.id
    html = page(make, "/manage/fans/")
    row = re.search(rf'<tr data-poster="{poster.id}">(.*?)</tr>', html, re.S).group(1)
    assert [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', row)] == [2, 1, 1, 1, 1, 1]


def test_the_fans_pages_need_a_manager_and_hide_other_merchants(make):
    tenant = make.tenant()
    other = make.tenant()
    log_in(make, other.owner)
    from app.actor import Actor
    from app.fans import service

    wheel = service.create_wheel(actor=Actor.system(tenant.merchant.id), name="别家的", prizes=[
        {"kind": 3, "label": "5元", "bonus_cents": 500, "chance_bp": 100, "stock": 1}])
    make.db.session.commit()
    assert make.client.get(f"/manage/fans/wheels/{wheel.id}", headers=EN).status_code == 404
    assert "别家的" not in page(make, "/manage/fans/")
    cashier = make.staff(other, "cashier")
    make.client.post("/logout", data={"csrf_token": _csrf(page(make, "/manage/fans/"))})
    log_in(make, cashier)
    assert make.client.get("/manage/fans/", headers=EN).status_code == 403


def test_a_wheel_form_with_bad_odds_shows_the_problem_and_saves_nothing(make):
    tenant = make.tenant()
    log_in(make, tenant.owner)
    html = page(make, "/manage/fans/wheels/new")
    response = make.client.post("/manage/fans/wheels/new", headers=EN, data={
        "csrf_token": _csrf(html), "name": "太慷慨", "audience": "anyone", "is_active": "1",
        "prize-0-kind": "points", "prize-0-label": "100积分", "prize-0-points": "100", "prize-0-chance": "70",
        "prize-0-stock": "5", "prize-1-kind": "bonus", "prize-1-label": "5元", "prize-1-bonus": "5",
        "prize-1-chance": "40", "prize-1-stock": "5"})
    assert response.status_code == 422
    assert "more than 100%" in response.get_data(as_text=True)
    assert make.db.session.scalar(sa.select(sa.func.count()).select_from(LuckyWheel)) == 0


def test_editing_a_wheel_keeps_what_prizes_already_gave(make):
    tenant = make.tenant()
    log_in(make, tenant.owner)
    from app.actor import Actor
    from app.fans import service

    wheel = service.create_wheel(actor=Actor.system(tenant.merchant.id), name="转盘", per_person_total=2, prizes=[
        {"kind": 3, "label": "5元", "bonus_cents": 500, "chance_bp": 5_000, "stock": 3}])
    wheel.prizes[0].issued = 2
    make.db.session.commit()
    html = page(make, f"/manage/fans/wheels/{wheel.id}")
    assert 'value="5.00"' in html and "已发 2" not in html  # English page: "2 given"
    base = {"csrf_token": _csrf(html), "name": "转盘", "audience": "members", "per_person_total": "4",
            "per_person_daily": "", "is_active": "1", "prize-0-kind": "bonus", "prize-0-label": "5元",
            "prize-0-bonus": "5", "prize-0-chance": "50", "prize-1-kind": "nothing", "prize-1-label": "谢谢参与",
            "prize-1-chance": "50"}
    too_little = make.client.post(f"/manage/fans/wheels/{wheel.id}", headers=EN,
                                  data={**base, "prize-0-stock": "1"})
    assert too_little.status_code == 422 and "already given" in too_little.get_data(as_text=True)
    other_value = make.client.post(f"/manage/fans/wheels/{wheel.id}", headers=EN,
                                   data={**base, "prize-0-stock": "10", "prize-0-bonus": "8"})
    assert other_value.status_code == 422 and "cannot change" in other_value.get_data(as_text=True)
    saved = make.client.post(f"/manage/fans/wheels/{wheel.id}", headers=EN, data={**base, "prize-0-stock": "10"})
    assert saved.status_code == 302
    make.db.session.expire_all()
    wheel = make.db.session.get(LuckyWheel, wheel.id)
    assert (wheel.per_person_total, wheel.per_person_daily, wheel.audience.label) == (4, None, "members")
    assert [(p.stock, p.issued, p.chance_bp) for p in wheel.prizes] == [(10, 2, 5_000), (0, 0, 5_000)]


def test_an_event_wechat_sends_again_counts_once_and_is_answered_again(make, oa):
    import hashlib
    import time

    from app.actor import Actor
    from app.fans import service
    from app.fans.models import FanScan
    from simulators.wechat import DEMO_TOKEN

    tenant = oa.tenant
    wheel = service.create_wheel(actor=Actor.system(tenant.merchant.id), name="转盘", prizes=[
        {"kind": 3, "label": "5元", "bonus_cents": 500, "chance_bp": 100, "stock": 1}])
    poster = service.create_poster(actor=Actor.system(tenant.merchant.id), name="海报", wheel_id=wheel.id)
    make.db.session.commit()
    stamp, nonce = str(int(time.time())), "4242"
    signature = hashlib.sha1("".join(sorted([DEMO_TOKEN, stamp, nonce])).encode()).hexdigest()
    body = (f"<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[o-twice]]>"
            f"</FromUserName><CreateTime>1764400000</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_{poster.scene}]]></EventKey></xml>")
    answers = [make.client.post("/wechat/callback", query_string={"signature": signature, "timestamp": stamp,
                                                                  "nonce": nonce}, data=body, content_type="text/xml")
               for _ in range(3)]
    assert all(a.status_code == 200 and f"/w/{wheel.code}" in a.get_data(as_text=True) for a in answers)
    assert make.db.session.scalar(sa.select(sa.func.count()).select_from(FanScan)) == 1


def test_a_wheel_always_keeps_a_better_luck_segment(make):
    from app.actor import Actor
    from app.fans import service

    tenant = make.tenant()
    actor = Actor.system(tenant.merchant.id)
    wheel = service.create_wheel(actor=actor, name="转盘", prizes=[
        {"kind": 3, "label": "5元", "bonus_cents": 500, "chance_bp": 5_000, "stock": 3}])
    # The 谢谢参与 segment turned into a prize: a new one is added at the end.
    service.update_wheel(wheel, actor=actor, prizes=[
        {"kind": 3, "label": "5元", "bonus_cents": 500, "chance_bp": 5_000, "stock": 3},
        {"kind": 2, "label": "10积分", "points": 10, "chance_bp": 1_000, "stock": 3}])
    make.db.session.commit()
    wheel = make.db.session.get(LuckyWheel, wheel.id)
    assert [(p.kind.label, p.chance_bp) for p in wheel.prizes] == [("bonus", 5_000), ("points", 1_000),
                                                                    ("nothing", 4_000)]
    log_in(make, tenant.owner)
    html = page(make, f"/manage/fans/wheels/{wheel.id}")
    assert html.count('name="prize-') // 8 == 8  # three segments and room for more


def test_nonsense_on_the_manager_forms_is_refused_without_an_error_page(make):
    tenant = make.tenant()
    log_in(make, tenant.owner)
    token = _csrf(page(make, "/manage/fans/wheels/new"))
    base = {"csrf_token": token, "name": "转盘", "audience": "anyone", "prize-0-kind": "points",
            "prize-0-label": "积分", "prize-0-points": "10", "prize-0-chance": "10", "prize-0-stock": "5"}
    for change in ({"starts_on": "0001-01-01"}, {"ends_on": "9999-12-31"}, {"prize-0-chance": "nan"},
                   {"prize-0-chance": "1e400"}, {"prize-0-stock": "-3"}, {"audience": "robots"},
                   {"prize-0-kind": "car"}, {"per_person_total": "0"},
                   {"prize-0-kind": "coupon", "prize-0-coupon": "999999"}, {"prize-0-kind": "coupon"}):
        response = make.client.post("/manage/fans/wheels/new", data={**base, **change}, headers=EN)
        assert 400 <= response.status_code < 500, (change, response.status_code)
    for form in ({"pool": "abc", "shares": "3"}, {"pool": "1", "shares": "999999999999"},
                 {"pool": "1", "shares": "2", "ends_on": "9999-12-31"}, {"pool": "1", "shares": "1", "kind": "gold"}):
        response = make.client.post("/manage/fans/envelopes", data={"csrf_token": token, "name": "红包", **form})
        assert response.status_code == 302
    for target in ("wheel-99999999999", "envelope-1", "nothing", "wheel-x"):
        response = make.client.post("/manage/fans/posters",
                                    data={"csrf_token": token, "name": "海报", "target": target})
        assert response.status_code == 302
    assert make.db.session.scalar(sa.select(sa.func.count()).select_from(LuckyWheel)) == 0
