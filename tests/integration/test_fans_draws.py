"""The lucky wheel's promises under concurrency, through the diner's spin endpoint on a real
database: no prize beyond its stock, no person beyond their limits, a replayed or forged spin
changes nothing, a prize reaches the wallet once per draw id."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from app.actor import Actor
from app.coupons.models import Coupon
from app.db import utcnow
from app.fans import service
from app.fans.models import PrizeKind, WheelPlay, WheelPrize
from app.members.models import Account, LedgerEntry, Member
from app.outbox.models import OutboxMessage
from app.wechat.models import WeChatFollower
from tests.integration.fans_support import csrf_of, make_wheel, merchant_with_wechat, phone, spin, together


def _members(make, tenant, count: int) -> list[tuple[str, int]]:
    """`count` members, each with their WeChat openid (so every win is granted at once)."""
    found = []
    for i in range(count):
        openid = f"ofan{i:04d}{uuid.uuid4().hex[:8]}"
        member = Member(merchant_id=tenant.merchant.id, member_no=f"{9_000_000_000 + i}", phone=f"139{i:08d}",
                        name=f"客{i}", openid=openid, tier_id=_base_tier(make, tenant))
        make.db.session.add(member)
        found.append(member)
    make.db.session.commit()
    return [(m.openid, m.id) for m in found]


def _base_tier(make, tenant) -> int:
    from app.members import service as members

    members.settings_for(tenant.merchant.id)
    return members.tiers_of(tenant.merchant.id)[0].id


def test_200_concurrent_spins_against_a_stock_of_50_give_exactly_50(app, make):
    tenant = merchant_with_wechat(make)
    wheel, template = make_wheel(make, tenant, stock=50, chance_bp=10_000, total=1)
    people = _members(make, tenant, 200)
    phones = [phone(app, tenant, openid) for openid, _ in people]
    tokens = [csrf_of(client, f"/w/{wheel.code}") for client in phones]

    code = wheel.code
    answers = together(200, lambda i: spin(phones[i], code, tokens[i]))

    assert all(not isinstance(a, Exception) for a in answers), [a for a in answers if isinstance(a, Exception)][:3]
    assert {a.status_code for a in answers} == {200}
    bodies = [a.get_json() for a in answers]
    assert sum(b["is_win"] for b in bodies) == 50
    assert all(b["granted"] for b in bodies if b["is_win"])
    make.db.session.rollback()
    prize = make.db.session.scalar(sa.select(WheelPrize).where(WheelPrize.wheel_id == wheel.id,
                                                               WheelPrize.kind == PrizeKind.COUPON))
    assert prize.issued == 50
    assert make.db.session.scalar(sa.select(sa.func.count()).select_from(Coupon).where(
        Coupon.template_id == template["id"])) == 50
    assert make.db.session.scalar(sa.select(sa.func.count()).select_from(WheelPlay)) == 200


def test_one_person_hammering_the_wheel_gets_at_most_their_limit(app, make):
    tenant = merchant_with_wechat(make)
    wheel, _ = make_wheel(make, tenant, stock=1000, chance_bp=5_000, total=5, daily=3)
    (openid, member_id), = _members(make, tenant, 1)
    clients = [phone(app, tenant, openid) for _ in range(40)]
    tokens = [csrf_of(client, f"/w/{wheel.code}") for client in clients]

    code = wheel.code
    answers = together(40, lambda i: spin(clients[i], code, tokens[i]))

    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) == 3  # the daily limit is the tighter one today
    assert {a.get_json()["error"]["code"] for a in answers if a.status_code != 200} == {"daily_limit_reached"}
    make.db.session.rollback()
    assert make.db.session.scalar(sa.select(sa.func.count()).select_from(WheelPlay).where(
        WheelPlay.openid == openid)) == 3
    # Tomorrow (China time) two more, and then the total limit holds.
    tomorrow = utcnow() + timedelta(days=1)
    actor = Actor.diner(tenant.merchant.id)
    member = make.db.session.get(Member, member_id)
    results = []
    for _ in range(4):
        try:
            results.append(service.draw(wheel, openid=openid, draw_id=uuid.uuid4().hex, member=member,
                                        is_follower=True, poster_id=None, now=tomorrow, actor=actor))
            make.db.session.commit()
        except Exception as error:
            make.db.session.rollback()
            results.append(error.error_code)
    assert results[2:] == ["play_limit_reached", "play_limit_reached"]
    assert make.db.session.scalar(sa.select(sa.func.count()).select_from(WheelPlay).where(
        WheelPlay.openid == openid)) == 5


def test_the_same_draw_id_sent_again_and_concurrently_is_one_spin_and_one_prize(app, make):
    tenant = merchant_with_wechat(make)
    wheel, _ = make_wheel(make, tenant, stock=100, chance_bp=10_000, kind=PrizeKind.BONUS)
    (openid, member_id), = _members(make, tenant, 1)
    clients = [phone(app, tenant, openid) for _ in range(10)]
    tokens = [csrf_of(client, f"/w/{wheel.code}") for client in clients]
    draw_id = uuid.uuid4().hex

    code = wheel.code
    answers = together(10, lambda i: spin(clients[i], code, tokens[i], draw_id))
    again = spin(clients[0], wheel.code, tokens[0], draw_id)

    assert {a.status_code for a in answers} | {again.status_code} == {200}
    assert len({(a.get_json()["position"], a.get_json()["is_win"]) for a in [*answers, again]}) == 1
    make.db.session.rollback()
    assert make.db.session.scalar(sa.select(sa.func.count()).select_from(WheelPlay)) == 1
    member = make.db.session.get(Member, member_id)
    assert member.bonus_cents == 500
    assert make.db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry).where(
        LedgerEntry.member_id == member_id, LedgerEntry.account == Account.BONUS)) == 1
    # The member's WeChat hears of it once: one balance-change message waits in the outbox.
    (message,) = make.db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "wechat.stored_value"))
    assert message.payload["delta_cents"] == 500 and message.payload["note"] == "幸运大转盘奖品"


def test_forged_spins_change_nothing(app, make):
    tenant = merchant_with_wechat(make)
    wheel, _ = make_wheel(make, tenant, stock=10, total=1)
    client = phone(app, tenant)
    token = csrf_of(client, f"/w/{wheel.code}")
    stranger = app.test_client()  # not signed in through WeChat
    no_csrf = client.post(f"/w/{wheel.code}/spin", json={"draw_id": uuid.uuid4().hex})
    bad_draw = client.post(f"/w/{wheel.code}/spin", json={"draw_id": "x"}, headers={"X-CSRFToken": token})
    nul = client.post(f"/w/{wheel.code}/spin", json={"draw_id": "\x00" * 20}, headers={"X-CSRFToken": token})
    assert nul.status_code == 422
    chosen_prize = client.post(f"/w/{wheel.code}/spin", json={"draw_id": 12, "prize_id": 1, "position": 0},
                               headers={"X-CSRFToken": token})
    not_signed_in = stranger.post(f"/w/{wheel.code}/spin", json={"draw_id": uuid.uuid4().hex},
                                  headers={"X-CSRFToken": token})
    unknown_wheel = client.post("/w/nosuchwheel/spin", json={"draw_id": uuid.uuid4().hex},
                                headers={"X-CSRFToken": token})
    assert no_csrf.status_code == 400 and no_csrf.get_json()["error"]["code"] == "csrf_failed"
    assert bad_draw.status_code == 422 and chosen_prize.status_code == 422
    assert not_signed_in.status_code in (400, 401)
    assert unknown_wheel.status_code == 404
    make.db.session.rollback()
    assert make.db.session.scalar(sa.select(sa.func.count()).select_from(WheelPlay)) == 0


def test_a_win_waits_for_a_non_member_and_lands_once_after_joining(app, make):
    tenant = merchant_with_wechat(make)
    wheel, template = make_wheel(make, tenant, stock=5)
    client = phone(app, tenant, "o-newcomer-0001")
    token = csrf_of(client, f"/w/{wheel.code}")
    body = spin(client, wheel.code, token).get_json()
    assert body["is_win"] and body["needs_join"] and not body["granted"]
    assert body["claim_url"] == f"/w/{wheel.code}/claim"
    # Claiming before joining sends the diner to join, and back here afterwards.
    to_join = client.get(body["claim_url"])
    assert to_join.status_code == 302 and "/m/join" in to_join.headers["Location"]
    join_token = csrf_of(client, to_join.headers["Location"])
    joined = client.post(to_join.headers["Location"], data={"csrf_token": join_token, "phone": "13700001111",
                                                             "name": "李四"})
    assert joined.status_code == 302 and joined.headers["Location"].endswith(f"/w/{wheel.code}/claim")
    assert client.get(joined.headers["Location"]).status_code == 302
    assert client.get(f"/w/{wheel.code}/claim").status_code == 302  # again: nothing more
    make.db.session.rollback()
    member = make.db.session.scalar(sa.select(Member).where(Member.phone == "13700001111"))
    coupons = make.db.session.scalars(sa.select(Coupon).where(Coupon.member_id == member.id)).all()
    assert [c.template_id for c in coupons] == [template["id"]]
    play = make.db.session.scalar(sa.select(WheelPlay))
    assert play.coupon_id == coupons[0].id and play.member_id == member.id


def test_who_may_play_and_when(app, make):
    tenant = merchant_with_wechat(make)
    followers, _ = make_wheel(make, tenant, audience=2)
    members_only, _ = make_wheel(make, tenant, audience=3)
    ended, _ = make_wheel(make, tenant, ends_at=utcnow() - timedelta(minutes=1),
                          starts_at=utcnow() - timedelta(days=2))
    client = phone(app, tenant, "o-visitor-0001")
    token = csrf_of(client, f"/w/{followers.code}")
    assert spin(client, followers.code, token).get_json()["error"]["code"] == "followers_only"
    assert spin(client, members_only.code, token).get_json()["error"]["code"] == "members_only"
    assert spin(client, ended.code, token).get_json()["error"]["code"] == "wheel_closed"
    make.db.session.add(WeChatFollower(merchant_id=tenant.merchant.id, openid="o-visitor-0001", is_subscribed=True))
    make.db.session.commit()
    assert spin(client, followers.code, token).status_code == 200


def test_a_wheel_for_anyone_with_a_phone_asks_for_the_number_first(app, make):
    tenant = merchant_with_wechat(make)
    wheel, _ = make_wheel(make, tenant, audience=4)
    client = phone(app, tenant, "o-visitor-0002")
    page = client.get(f"/w/{wheel.code}").get_data(as_text=True)
    assert 'data-code="phone_required"' in page and 'name="phone"' in page
    token = csrf_of(client, f"/w/{wheel.code}")
    assert spin(client, wheel.code, token).get_json()["error"]["code"] == "phone_required"
    # Not a number: nothing kept, still no spin.
    client.post(f"/w/{wheel.code}/phone", data={"csrf_token": token, "phone": "call me"})
    assert spin(client, wheel.code, token).get_json()["error"]["code"] == "phone_required"
    # Without the form's token: refused, nothing kept.
    assert client.post(f"/w/{wheel.code}/phone", data={"phone": "13800000002"}).status_code == 400
    assert spin(client, wheel.code, token).get_json()["error"]["code"] == "phone_required"
    answer = client.post(f"/w/{wheel.code}/phone", data={"csrf_token": token, "phone": "13800000002"})
    assert answer.status_code == 302
    assert spin(client, wheel.code, token).status_code == 200
    from app.fans.models import FanContact

    make.db.session.expire_all()
    contacts = make.db.session.scalars(sa.select(FanContact).where(FanContact.merchant_id == tenant.merchant.id)).all()
    assert [(c.openid, c.phone) for c in contacts] == [("o-visitor-0002", "13800000002")]
    # A member has given their number when they joined: they spin straight away.
    [(openid, _member_id)] = _members(make, tenant, 1)
    member_client = phone(app, tenant, openid)
    assert spin(member_client, wheel.code, csrf_of(member_client, f"/w/{wheel.code}")).status_code == 200


def test_another_merchants_diner_cannot_spin_this_wheel(app, make):
    tenant = merchant_with_wechat(make)
    other = merchant_with_wechat_other(make)
    wheel, _ = make_wheel(make, tenant)
    client = phone(app, other)
    page = client.get(f"/w/{wheel.code}")
    assert page.status_code == 302 and "/wechat/oauth/start" in page.headers["Location"]


def merchant_with_wechat_other(make):
    from tests.wechat_pay_support import add_wechat_settings

    tenant = make.tenant()
    add_wechat_settings(make.db, tenant.merchant.id, appid="wx-other-account", mch_id="1900000999")
    return tenant
