"""Passing a coupon on by a share link opened in a friend's WeChat: claimed once, within the
template's chain limit, both sides' history, the friend's WeChat message; a forged or expired
link gets a friendly page."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import sqlalchemy as sa

from tests.factories import create_coupon_template, create_member, issue_coupon
from tests.integration.wechat_support import (  # noqa: F401 - fixtures
    deliver,
    oa,
    oa_live_server,
    oa_sim,
    sign_in,
    templates_in,
)


def _members(make, oa, *people):  # noqa: F811
    from app.members.models import Member

    made = []
    for phone, name, nickname in people:
        member = create_member(make, oa.tenant, phone=phone, name=name)
        openid = oa.sim.state.create_user(nickname, subscribed=True).openid
        make.db.session.get(Member, member["id"]).openid = openid
        made.append((member, openid))
    make.db.session.commit()
    return made


def _share_path(client, coupon_id: int) -> str:
    page = client.get(f"/m/coupons/{coupon_id}/share")
    assert page.status_code == 200, page.get_data(as_text=True)[:400]
    url = re.search(r'id="share-url"[^>]*value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return urlsplit(url).path


def _claim(client, path: str):
    page = client.get(path)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    assert csrf, page.get_data(as_text=True)[:600]
    return client.post(path, data={"csrf_token": csrf.group(1)})


def test_a_share_link_is_claimed_once_and_both_sides_see_it(make, oa, app):  # noqa: F811
    from app.coupons.models import Coupon, CouponEvent, CouponStatus

    (giver, giver_openid), (friend, friend_openid), (late, late_openid) = _members(
        make, oa, ("13800007001", "王大", "大王"), ("13800007002", "李二", "小李"), ("13800007003", "张三", "小张"))
    template = create_coupon_template(make, oa.tenant, name="满100减20", value_cents=2000, min_spend_cents=10_000,
                                      is_transferable=True, max_transfer_chain=2)
    gift = issue_coupon(make, oa.tenant, giver["id"], template["id"])

    wallet = sign_in(make.client, oa.sim, f"/m/coupons?merchant={oa.merchant_id}", giver_openid)
    assert f'href="/m/coupons/{gift["id"]}/share"' in wallet.get_data(as_text=True)
    path = _share_path(make.client, gift["id"])
    assert path.startswith("/m/coupons/claim/")

    friend_phone = app.test_client()
    landing = sign_in(friend_phone, oa.sim, path, friend_openid)
    html = landing.get_data(as_text=True)
    assert landing.status_code == 200 and "王* 分享" in html and "满100减20" in html
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    claimed = friend_phone.post(path, data={"csrf_token": csrf})
    assert claimed.status_code == 302 and claimed.headers["Location"].endswith("/m/coupons")
    again = friend_phone.post(path, data={"csrf_token": csrf})  # the same friend twice: still one coupon
    assert again.status_code == 302
    assert 'id="claim-yours"' in friend_phone.get(path).get_data(as_text=True)

    late_phone = app.test_client()
    sign_in(late_phone, oa.sim, path, late_openid)
    too_late = late_phone.get(path)
    assert "已被领取" in too_late.get_data(as_text=True) and 'id="claim-button"' not in too_late.get_data(as_text=True)

    make.db.session.commit()
    held = make.db.session.scalars(sa.select(Coupon).where(Coupon.template_id == template["id"])
                                   .order_by(Coupon.id)).all()
    assert [(c.member_id, c.state) for c in held] == [(giver["id"], CouponStatus.TRANSFERRED),
                                                      (friend["id"], CouponStatus.ISSUED)]
    kinds = make.db.session.scalars(sa.select(CouponEvent.kind).where(CouponEvent.coupon_id.in_([c.id for c in held]))
                                    .order_by(CouponEvent.id)).all()
    assert [k.label for k in kinds] == ["issue", "transfer_out", "transfer_in"]
    # Both sides' history: the giver's wallet says to whom, the friend's from whom.
    assert "已转赠给 李*" in make.client.get("/m/coupons").get_data(as_text=True)
    assert "来自 王* 的转赠" in friend_phone.get("/m/coupons").get_data(as_text=True)
    deliver()
    assert len(templates_in(oa.sim, friend_openid, "TPL_COUPON")) == 1
    assert not templates_in(oa.sim, late_openid, "TPL_COUPON")


def test_the_chain_limit_holds_for_links_and_a_friend_joins_first(make, oa, app):  # noqa: F811
    from app.coupons.models import Coupon

    (giver, giver_openid), (friend, friend_openid) = _members(
        make, oa, ("13800007011", "赵一", "老赵"), ("13800007012", "钱二", "老钱"))
    newcomer_openid = oa.sim.state.create_user("新朋友", subscribed=True).openid
    template = create_coupon_template(make, oa.tenant, name="10元券", value_cents=1000, is_transferable=True,
                                      max_transfer_chain=1)
    gift = issue_coupon(make, oa.tenant, giver["id"], template["id"])
    sign_in(make.client, oa.sim, f"/m/coupons?merchant={oa.merchant_id}", giver_openid)
    path = _share_path(make.client, gift["id"])

    # Not a member yet: join first, come back to the link, claim.
    newcomer = app.test_client()
    landing = sign_in(newcomer, oa.sim, path, newcomer_openid).get_data(as_text=True)
    join = re.search(r'id="claim-join" href="([^"]+)"', landing).group(1).replace("&amp;", "&")
    form = newcomer.get(join).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    joined = newcomer.post(join, data={"csrf_token": csrf, "phone": "13800007013", "name": "孙三"})
    assert joined.status_code == 302 and urlsplit(joined.headers["Location"]).path == path
    assert _claim(newcomer, path).status_code == 302
    make.db.session.commit()
    received = make.db.session.scalar(sa.select(Coupon).where(Coupon.transferred_from_id == gift["id"]))
    assert received is not None and received.transfer_depth == 1

    # Passed on once already: the limit (1) allows no link and no claim of a forged-depth one.
    assert "share" not in newcomer.get("/m/coupons").get_data(as_text=True).split('id="coupons"')[1]
    assert newcomer.get(f"/m/coupons/{received.id}/share").status_code == 409
    from app.coupons import links

    with app.test_request_context():
        onward = links.make_token(received)
    friend_phone = app.test_client()
    sign_in(friend_phone, oa.sim, f"/m/coupons/claim/{onward}", friend_openid)
    refused = _claim(friend_phone, f"/m/coupons/claim/{onward}")
    assert refused.status_code == 409 and "次数" in refused.get_data(as_text=True)
    make.db.session.commit()
    assert make.db.session.scalar(sa.select(sa.func.count()).select_from(Coupon).where(
        Coupon.member_id == friend["id"])) == 0


def test_a_forged_or_expired_link_gets_a_friendly_page(make, oa, app):  # noqa: F811
    from app.coupons import links

    ((giver, giver_openid),) = _members(make, oa, ("13800007021", "周一", "老周"))
    template = create_coupon_template(make, oa.tenant, name="10元券", value_cents=1000, is_transferable=True)
    gift = issue_coupon(make, oa.tenant, giver["id"], template["id"])
    sign_in(make.client, oa.sim, f"/m/coupons?merchant={oa.merchant_id}", giver_openid)
    path = _share_path(make.client, gift["id"])
    token = path.rsplit("/", 1)[1]

    forged = make.client.get(f"/m/coupons/claim/{token[:-3]}xyz")
    assert forged.status_code == 404 and "链接无效" in forged.get_data(as_text=True)
    assert make.client.get("/m/coupons/claim/" + "a" * 500).status_code == 404
    with app.test_request_context():
        other_key = links.URLSafeTimedSerializer("another-secret", salt="coupon-share-link").dumps(
            {"m": oa.merchant_id, "c": gift["id"], "f": giver["id"], "n": "x"})
    assert make.client.get(f"/m/coupons/claim/{other_key}").status_code == 404
    app.config["COUPON_SHARE_LINK_DAYS"] = -1  # every link is older than that
    try:
        expired = make.client.get(path)
    finally:
        app.config.pop("COUPON_SHARE_LINK_DAYS")
    assert expired.status_code == 410 and "已过期" in expired.get_data(as_text=True)
