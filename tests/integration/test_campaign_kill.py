"""A campaign send cut down with SIGKILL: the scheduler's own job (`flask scheduler run-once
send_campaigns`) runs as its own process on the test database, is killed in the middle of its
batches, and runs again. Every member gets the campaign's coupon and message exactly once.

`test_campaigns.py` stops a batch just before its commit from inside the process; this one takes
the real way a process dies: anywhere, including in the middle of a commit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from app.actor import Actor
from app.campaigns import service
from app.campaigns.models import Campaign, CampaignDelivery, CampaignStatus
from app.coupons.models import Coupon, CouponEvent
from app.db import begin_write, utcnow
from app.members.models import Member
from app.outbox.models import OutboxMessage
from app.wechat.subscribers import CAMPAIGN
from tests.factories import create_coupon_template, create_member

ROOT = Path(__file__).resolve().parents[2]
AUDIENCE = 4_000  # eight of the job's batches of 500


def _add_members(db, tenant, count: int) -> None:
    existing = db.session.scalars(sa.select(Member).where(Member.merchant_id == tenant.merchant.id)).first()
    now = utcnow()
    db.session.execute(sa.insert(Member), [
        {"merchant_id": tenant.merchant.id, "member_no": f"9{i:09d}", "phone": f"139{i:08d}", "name": f"会员{i}",
         "tier_id": existing.tier_id, "created_at": now, "tags": [], "notes": ""}
        for i in range(count - 1)])
    db.session.commit()


def _job(app) -> subprocess.Popen:
    env = {**os.environ, "TABLELOOP_ENV": "testing", "TEST_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "FLASK_APP": "app"}
    return subprocess.Popen([sys.executable, "-m", "flask", "scheduler", "run-once", "send_campaigns"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _processed(db, campaign_id: int) -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(CampaignDelivery).where(
        CampaignDelivery.campaign_id == campaign_id, CampaignDelivery.processed_at.is_not(None)))


def test_a_send_killed_with_sigkill_goes_on_and_reaches_each_member_once(app, make, db):
    tenant = make.tenant()
    owner = make.api(tenant.owner)
    create_member(make, tenant)  # the merchant's tiers and rules, and the first member
    _add_members(db, tenant, AUDIENCE)
    template = create_coupon_template(make, tenant, value_cents=1_000)
    segment = owner.post("/segments", json={"name": "全部会员", "spec": {}}).get_json()
    campaign = owner.post("/campaigns", json={"name": "店庆", "segment_id": segment["id"],
                                              "coupon_template_id": template["id"], "message_title": "店庆送券"})
    assert campaign.status_code == 201, campaign.get_json()
    campaign_id, merchant_id = campaign.get_json()["id"], tenant.merchant.id
    begin_write()
    audience = service.send_now(service.lock_campaign(merchant_id, campaign_id), actor=Actor.system(merchant_id),
                                now=utcnow())
    db.session.commit()
    assert audience == AUDIENCE

    job = _job(app)
    deadline = time.monotonic() + 120
    while (done := _processed(db, campaign_id)) == 0 and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(job.pid, signal.SIGKILL)
    output = job.communicate(timeout=30)[0].decode(errors="replace")
    assert job.returncode == -signal.SIGKILL, f"the job ended before it was killed: {output}"
    cut_at = _processed(db, campaign_id)
    assert 0 < done <= cut_at < AUDIENCE, "killed in the middle of the send"
    assert db.session.get(Campaign, campaign_id).status is CampaignStatus.SENDING

    again = _job(app)
    output = again.communicate(timeout=300)[0].decode(errors="replace")
    assert again.returncode == 0, output

    db.session.rollback()
    stored = db.session.get(Campaign, campaign_id)
    assert stored.status is CampaignStatus.SENT and stored.sent_count == AUDIENCE
    assert _processed(db, campaign_id) == AUDIENCE
    coupons = db.session.scalars(sa.select(Coupon.member_id).where(Coupon.template_id == template["id"])).all()
    assert len(coupons) == len(set(coupons)) == AUDIENCE  # each member one coupon
    members = set(db.session.scalars(sa.select(Member.id).where(Member.merchant_id == merchant_id)))
    assert set(coupons) == members
    events = db.session.scalar(sa.select(sa.func.count()).select_from(CouponEvent).where(
        CouponEvent.idempotency_key.like(f"campaign:{campaign_id}:%")))
    assert events == AUDIENCE
    messages = db.session.scalars(sa.select(OutboxMessage.dedupe_key).where(
        OutboxMessage.merchant_id == merchant_id, OutboxMessage.kind == CAMPAIGN)).all()
    assert len(messages) == len(set(messages)) == AUDIENCE  # each member one message
    linked = db.session.scalar(sa.select(sa.func.count()).select_from(CampaignDelivery).where(
        CampaignDelivery.campaign_id == campaign_id, CampaignDelivery.coupon_id.is_not(None)))
    assert linked == AUDIENCE
