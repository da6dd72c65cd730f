"""Segments and campaigns over real bills: exact segment counts on the pyramid's hand-built
member set, a campaign sent once however often it is sent or resumed after a kill, quiet hours,
automations, the tracked link, and the funnel (open, visit, pay, hold-out) exact to the fen — on
SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from app.actor import Actor
from app.campaigns import service
from app.campaigns.models import Campaign, CampaignDelivery, CampaignStatus, Segment
from app.coupons.models import Coupon, CouponEvent
from app.db import begin_write, utcnow
from app.members.models import Member
from app.outbox.models import OutboxMessage
from app.wechat.subscribers import CAMPAIGN, COUPON
from tablerules import campaigns as rules
from tests.factories import create_coupon_template
from tests.integration.test_analytics_pyramid import DAY, THRESHOLDS, Shop, build_members


@pytest.fixture
def shop(make, db):
    shop = Shop(make, db)
    assert shop.api.request("PUT", "/analytics/thresholds", json=THRESHOLDS).status_code == 200
    return shop


@pytest.fixture
def members(shop, db):
    ids = build_members(shop)
    # Member-row facts for the filters that do not read the bills.
    facts = {"核心A": {"birthday": date(1990, 3, 8), "tags": ["辣", "家庭"], "points": 500},
             "重要B": {"birthday": date(1985, 3, 20), "tags": ["商务"], "points": 50},
             "沉睡G": {"birthday": date(1992, 11, 2), "tags": ["辣"], "principal_cents": 30_000},
             "流失H": {"source_campaign": "开业"}}
    for name, values in facts.items():
        db.session.execute(sa.update(Member).where(Member.id == ids[name]).values(**values))
    db.session.commit()
    return ids


def count(shop, **spec) -> int:
    response = shop.api.post("/segments/count", json={"spec": spec})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["members"]


def test_segment_counts_are_exact(shop, members):
    assert count(shop) == 9
    assert count(shop, layers=["dormant"]) == 1
    assert count(shop, layers=["important", "core"]) == 3
    assert count(shop, layers=["lost", "dormant"], tags=["辣"]) == 1  # G
    assert count(shop, visits_min=3) == 3  # A, B, G
    assert count(shop, visits_min=2, visits_max=3) == 3  # A, B, D
    assert count(shop, spend_min_cents=60_000) == 3  # A 600, C 640, G 800
    assert count(shop, spend_min_cents=60_000, spend_max_cents=64_000) == 2
    assert count(shop, birthday_months=[3]) == 2
    assert count(shop, birthday_months=[3, 11], points_min=100) == 2  # A (500), G (800 earned); B has 50
    assert count(shop, tags=["辣", "商务"]) == 3
    assert count(shop, stored_value_min_cents=1) == 1
    assert count(shop, source_campaigns=["开业"]) == 1
    assert count(shop, tier_ids=[shop.api.get(f"/members/{members['核心A']}").get_json()["tier"]["id"]]) == 9
    # Last visit, by Beijing day: within the last 30 days — A B C D E; never seen: F counts as "before".
    today = (utcnow() + timedelta(hours=8)).date()
    assert count(shop, last_visit_after=(today - timedelta(days=30)).isoformat()) == 5
    # F (never), H (200 days), I (its only visit is before the 12-month window: not seen in it, like F)
    assert count(shop, last_visit_before=(today - timedelta(days=100)).isoformat()) == 3


def test_bad_filters_and_tenancy(shop, members, make):
    response = shop.api.post("/segments/count", json={"spec": {"visits_min": 5, "visits_max": 2}})
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_segment"
    assert shop.api.post("/segments/count", json={"spec": {"layers": ["gold"]}}).status_code == 422
    other = make.tenant()
    assert shop.api.post("/segments/count", json={"spec": {"tier_ids": [other.merchant.id * 1000]}}).status_code == 404
    segment = shop.api.post("/segments", json={"name": "沉睡会员", "spec": {"layers": ["dormant"]}})
    assert segment.status_code == 201 and segment.get_json()["members"] == 1
    assert shop.api.post("/segments", json={"name": "沉睡会员", "spec": {}}).status_code == 409
    stranger = make.api(other.owner)
    assert stranger.get(f"/segments/{segment.get_json()['id']}").status_code == 404
    body = shop.api.get(f"/segments/{segment.get_json()['id']}/members").get_json()
    assert [m["name"] for m in body["members"]] == ["沉睡G"] and body["next_after_id"] is None


def _campaign(shop, spec: dict, **fields) -> dict:
    segment = shop.api.post("/segments", json={"name": f"seg-{utcnow().timestamp()}", "spec": spec}).get_json()
    response = shop.api.post("/campaigns", json={"name": "回来吃饭", "segment_id": segment["id"], **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _deliveries(db, campaign_id: int) -> list[CampaignDelivery]:
    return db.session.scalars(sa.select(CampaignDelivery).where(CampaignDelivery.campaign_id == campaign_id)
                              .order_by(CampaignDelivery.member_id)).all()


def test_send_twice_reaches_each_member_once(shop, members, make, db):
    template = create_coupon_template(make, shop.tenant, value_cents=3000)
    campaign = _campaign(shop, {"layers": ["important", "core", "potential"]}, coupon_template_id=template["id"],
                         message_title="好久不见", message_body="送您30元券")
    assert shop.api.get(f"/campaigns/{campaign['id']}/preview").get_json() == {
        "members": 4, "holdout_about": 0, "to_send_about": 4}
    assert shop.api.post(f"/campaigns/{campaign['id']}/send", json={"confirm": False}).status_code == 422
    sent = shop.api.post(f"/campaigns/{campaign['id']}/send", json={"confirm": True})
    assert sent.status_code == 200, sent.get_json()
    body = sent.get_json()
    assert body["audience"] == 4 and body["processed"] == 4 and body["campaign"]["status"] == "sent"
    again = shop.api.post(f"/campaigns/{campaign['id']}/send", json={"confirm": True})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "campaign_state"
    # Running the batches again (a second scheduler tick) changes nothing either.
    assert service.send_pending(shop.tenant.merchant.id, campaign["id"], now=utcnow()) == 0
    rows = _deliveries(db, campaign["id"])
    assert len(rows) == 4 and all(r.coupon_id and r.has_message and r.processed_at for r in rows)
    coupons = db.session.scalars(sa.select(Coupon).where(Coupon.template_id == template["id"])).all()
    assert sorted(c.member_id for c in coupons) == sorted(r.member_id for r in rows)
    kinds = db.session.scalars(sa.select(OutboxMessage.kind).where(
        OutboxMessage.merchant_id == shop.tenant.merchant.id, OutboxMessage.kind.in_([CAMPAIGN, COUPON]))).all()
    assert kinds == [CAMPAIGN] * 4  # the campaign's own message tells of the coupon: no second message


def test_send_killed_mid_way_resumes_once(shop, members, make, db):
    template = create_coupon_template(make, shop.tenant)
    campaign = _campaign(shop, {}, coupon_template_id=template["id"], message_title="店庆")
    merchant_id = shop.tenant.merchant.id
    begin_write()
    audience = service.send_now(service.lock_campaign(merchant_id, campaign["id"]),
                                actor=Actor.system(merchant_id), now=utcnow())
    db.session.commit()
    assert audience == 9

    class Killed(Exception):
        pass

    batches = []

    def kill_in_third_batch(processed: int) -> None:
        batches.append(processed)
        if len(batches) == 3:
            raise Killed  # the process dies with the third batch written but not committed

    with pytest.raises(Killed):
        service.send_pending(merchant_id, campaign["id"], now=utcnow(), batch_size=2,
                             before_commit=kill_in_third_batch)
    db.session.rollback()
    assert batches == [2, 2, 2]
    done = [r for r in _deliveries(db, campaign["id"]) if r.processed_at is not None]
    assert len(done) == 4  # two batches committed, the third rolled back whole
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Coupon)
                             .where(Coupon.template_id == template["id"])) == 4

    assert service.send_pending(merchant_id, campaign["id"], now=utcnow(), batch_size=2) == 5
    rows = _deliveries(db, campaign["id"])
    assert len(rows) == 9 and all(r.processed_at and r.coupon_id for r in rows)
    issued = db.session.scalars(sa.select(Coupon.member_id).where(Coupon.template_id == template["id"])).all()
    assert sorted(issued) == sorted(members.values())  # each member exactly one coupon
    events = db.session.scalar(sa.select(sa.func.count()).select_from(CouponEvent).where(
        CouponEvent.idempotency_key.like(f"campaign:{campaign['id']}:%")))
    assert events == 9
    messages = db.session.scalars(sa.select(OutboxMessage.dedupe_key).where(
        OutboxMessage.merchant_id == merchant_id, OutboxMessage.kind == CAMPAIGN)).all()
    assert len(messages) == len(set(messages)) == 9
    stored = db.session.get(Campaign, campaign["id"], populate_existing=True)
    assert stored.status is CampaignStatus.SENT and stored.sent_count == 9


def test_quiet_hours_hold_the_messages(shop, members, db):
    campaign = _campaign(shop, {"layers": ["new"]}, message_title="新客礼", quiet_start="22:00", quiet_end="08:00")
    merchant_id = shop.tenant.merchant.id
    late = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)  # 23:30 in Beijing
    begin_write()
    service.start(service.lock_campaign(merchant_id, campaign["id"]), actor=Actor.system(merchant_id), now=utcnow())
    db.session.commit()
    service.send_pending(merchant_id, campaign["id"], now=late)
    due = db.session.scalars(sa.select(OutboxMessage.next_attempt_at).where(
        OutboxMessage.merchant_id == merchant_id, OutboxMessage.kind == CAMPAIGN)).all()
    assert due == [datetime(2026, 11, 29, 0, 0, tzinfo=UTC)] * 2  # 08:00 Beijing the next morning
    assert rules.release_at(late, rules.QuietHours(time(22), time(8))) == due[0]


def test_scheduled_campaign_sent_by_the_minute_job(shop, members, db):
    at = utcnow() + timedelta(hours=1)
    campaign = _campaign(shop, {"layers": ["lost"]}, message_title="想念您", scheduled_at=at.isoformat())
    assert campaign["status"] == "scheduled"
    merchant_id = shop.tenant.merchant.id
    assert service.run_due(utcnow(), actor=Actor.system(merchant_id)) == 0
    assert service.run_due(at, actor=Actor.system(merchant_id)) == 2
    assert db.session.get(Campaign, campaign["id"], populate_existing=True).status is CampaignStatus.SENT


def test_a_campaign_that_cannot_start_does_not_hold_up_the_others(shop, members, make, db):
    template = create_coupon_template(make, shop.tenant)
    at = utcnow() + timedelta(hours=1)
    stuck = _campaign(shop, {}, coupon_template_id=template["id"], scheduled_at=at.isoformat())
    fine = _campaign(shop, {"layers": ["lost"]}, message_title="想念您", scheduled_at=at.isoformat())
    assert shop.api.patch(f"/coupon-templates/{template['id']}", json={"is_active": False}).status_code == 200
    merchant_id = shop.tenant.merchant.id
    assert service.run_due(at, actor=Actor.system(merchant_id)) == 2
    assert db.session.get(Campaign, fine["id"], populate_existing=True).status is CampaignStatus.SENT
    assert db.session.get(Campaign, stuck["id"], populate_existing=True).status is CampaignStatus.SCHEDULED


def test_win_back_once_per_dormant_spell_and_birthday_once_a_month(shop, members, make, db):
    template = create_coupon_template(make, shop.tenant)
    merchant_id = shop.tenant.merchant.id
    win_back = shop.api.post("/campaigns", json={"name": "唤醒", "trigger": "win_back",
                                                 "coupon_template_id": template["id"]}).get_json()
    birthday = shop.api.post("/campaigns", json={"name": "生日礼", "trigger": "birthday",
                                                 "message_title": "生日快乐"}).get_json()
    assert win_back["status"] == birthday["status"] == "active"
    now = utcnow()
    started = service.run_automations(now, actor=Actor.system(merchant_id))
    assert len(started) == 2
    assert service.run_automations(now, actor=Actor.system(merchant_id)) == []  # same period: nothing new
    service.run_due(now, actor=Actor.system(merchant_id))
    children = {c.parent_id: c for c in db.session.scalars(sa.select(Campaign).where(Campaign.id.in_(started)))}
    assert [d.member_id for d in _deliveries(db, children[win_back["id"]].id)] == [members["沉睡G"]]
    month = (now + timedelta(hours=8)).month
    expected = {members[n] for n, m in (("核心A", 3), ("重要B", 3), ("沉睡G", 11)) if m == month}
    assert {d.member_id for d in _deliveries(db, children[birthday["id"]].id)} == expected
    # The next day G is still dormant and already reached since its last visit: not again.
    tomorrow = now + DAY
    again = service.run_automations(tomorrow, actor=Actor.system(merchant_id))
    service.run_due(tomorrow, actor=Actor.system(merchant_id))
    second = [c for c in db.session.scalars(sa.select(Campaign).where(Campaign.id.in_(again)))
              if c.parent_id == win_back["id"]]
    assert len(second) == 1 and _deliveries(db, second[0].id) == []


def test_funnel_exact_with_holdout(shop, members, make, db, client):
    """Hold-out 50%: the members held out are the hash's choice, the same every time."""
    template = create_coupon_template(make, shop.tenant, value_cents=2000)
    campaign = _campaign(shop, {}, coupon_template_id=template["id"], message_title="回店有礼", holdout_percent=50)
    merchant_id = shop.tenant.merchant.id
    seed = f"{merchant_id}:{campaign['id']}"
    held = {n for n, i in members.items() if rules.is_held_out(seed, i, 50)}
    assert shop.api.post(f"/campaigns/{campaign['id']}/send", json={"confirm": True}).status_code == 200
    rows = {r.member_id: r for r in _deliveries(db, campaign["id"])}
    assert {n for n, i in members.items() if rows[i].is_holdout} == held
    assert all((r.coupon_id is None) == r.is_holdout for r in rows.values())
    reached = sorted(n for n in members if n not in held)
    out = sorted(held)
    assert reached and out, "the fixed seed splits the nine members into both groups"

    # Two reached members open the link (one twice); one held-out link cannot count.
    for name in reached[:2]:
        token = service.open_token(rows[members[name]].id)
        assert client.get(f"/c/{token}").status_code == 302
    client.get(f"/c/{service.open_token(rows[members[reached[0]]].id)}")
    assert client.get("/c/not-a-token").status_code == 404

    # Reached: the first pays 42 with the campaign coupon (22 after 20 off), the second pays 128
    # and refunds nothing; held out: the first pays 42.
    first, second = members[reached[0]], members[reached[1]]
    shop.visit(second, 0, (shop.fish, 1))
    _visit_with_coupon(shop, db, first, rows[first].coupon_id)
    shop.visit(members[out[0]], 0, (shop.pork, 1))

    body = shop.api.get(f"/campaigns/{campaign['id']}/funnel").get_json()
    assert body["sent"] == {"members": len(reached), "visited": 2, "paid": 2, "revenue_cents": 2_200 + 12_800,
                            "paid_rate_permille": (2000 * 2 + len(reached)) // (2 * len(reached)),
                            "revenue_per_member_cents": 15_000 // len(reached)}
    assert body["opened"] == 2
    assert body["holdout"]["members"] == len(out) and body["holdout"]["paid"] == 1
    assert body["holdout"]["revenue_cents"] == 4_200
    assert body["coupons_issued"] == len(reached) and body["coupons_redeemed"] == 1
    assert body["coupon_cost_cents"] == 2_000
    incremental = 15_000 - 4_200 * len(reached) // len(out)
    assert body["incremental_revenue_cents"] == incremental
    assert body["roi_permille"] == (incremental - 2_000) * 1000 // 2_000


def _visit_with_coupon(shop, db, member_id: int, coupon_id: int) -> None:
    import uuid

    from app.orders.settlement import SettleRequest, TenderRequest, settle_order
    from tablerules.tenders import TenderType

    order = shop.api.post("/orders", json={"store_id": shop.tenant.store.id, "idempotency_key": uuid.uuid4().hex,
                                           "items": [{"dish_id": shop.pork["id"], "qty": 1}]}).get_json()
    begin_write()
    settle_order(order["id"], SettleRequest(member_id=member_id, coupon_ids=[coupon_id],
                                            tenders=[TenderRequest(TenderType.CASH, 2_200)]),
                 actor=shop.actor, key=uuid.uuid4().hex, now=utcnow())
    db.session.commit()


def test_campaign_tenancy_and_bad_input(shop, members, make):
    other = make.tenant()
    stranger = make.api(other.owner)
    campaign = _campaign(shop, {}, message_title="x")
    assert stranger.get(f"/campaigns/{campaign['id']}").status_code == 404
    assert stranger.post(f"/campaigns/{campaign['id']}/send", json={"confirm": True}).status_code == 404
    theirs = create_coupon_template(make, other)
    segment_id = campaign["segment_id"]
    response = shop.api.post("/campaigns", json={"name": "x", "segment_id": segment_id,
                                                 "coupon_template_id": theirs["id"]})
    assert response.status_code == 404
    response = shop.api.post("/campaigns", json={"name": "x", "segment_id": segment_id})
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_campaign"
    response = shop.api.post("/campaigns", json={"name": "x", "segment_id": segment_id, "message_title": "y",
                                                 "quiet_start": "22:00"})
    assert response.status_code == 422
    key = {"name": "once", "segment_id": segment_id, "message_title": "y", "idempotency_key": "k-1"}
    first, replay = (shop.api.post("/campaigns", json=key) for _ in range(2))
    assert first.get_json()["id"] == replay.get_json()["id"]
    cashier = make.api(make.staff(shop.tenant, "cashier"))
    assert cashier.get("/campaigns").status_code == 403
    assert Segment.__tablename__ == "segment"
