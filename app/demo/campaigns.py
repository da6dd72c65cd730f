"""The demo restaurant's segments and campaigns: a finished campaign (sent three weeks ago to the
important and potential layers, a fifth held out) so the funnel page shows something on first
open, a dormant-members segment and a running win-back automation. Made through the campaign
service at past moments, so its figures come from the demo bills like any campaign's."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import sqlalchemy as sa

from app.actor import Actor
from app.campaigns import service
from app.campaigns.models import CampaignDelivery, Trigger
from app.coupons import service as coupons
from app.db import begin_write, db
from tablerules.segments import parse_spec

SENT_DAYS_AGO = 21


def load_campaigns(merchant_id: int, owner_id: int, now: datetime) -> None:
    actor = Actor(merchant_id=merchant_id, staff_id=owner_id, name="demo")
    sent_at = now - timedelta(days=SENT_DAYS_AGO)
    begin_write()
    template = coupons.create_template(actor=actor, name="回店礼 满100减20", name_en="¥20 off over ¥100",
                                       kind="cash", value_cents=2_000, min_spend_cents=10_000, valid_days=30)
    regulars = service.create_segment("常客：重要与潜力", parse_spec({"layers": ["important", "potential"]}),
                                      actor=actor, now=sent_at)
    service.create_segment("沉睡会员", parse_spec({"layers": ["dormant"]}), actor=actor, now=sent_at)
    campaign = service.create_campaign(service.CampaignDraft(
        name="老客回店礼", segment_id=regulars.id, coupon_template_id=template.id, message_title="好久不见，送您一张券",
        message_body="满100减20，30天内到店可用", holdout_percent=20, quiet_start=time(22), quiet_end=time(8),
        window_days=14), actor=actor, now=sent_at - timedelta(hours=1))
    service.send_now(campaign, actor=actor, now=sent_at)
    db.session.commit()
    service.send_pending(merchant_id, campaign.id, now=sent_at, batch_size=2_000)
    # Two in three of those who got the message opened its link, an hour or two later.
    begin_write()
    db.session.execute(sa.update(CampaignDelivery).where(
        CampaignDelivery.campaign_id == campaign.id, CampaignDelivery.is_holdout.is_(False),
        CampaignDelivery.member_id % 3 != 0).values(opened_at=sent_at + timedelta(hours=2)))
    service.create_campaign(service.CampaignDraft(
        name="沉睡唤醒", trigger=Trigger.WIN_BACK, coupon_template_id=template.id, message_title="想念您的光临",
        message_body="送您满100减20券", quiet_start=time(22), quiet_end=time(8), spec={}), actor=actor, now=now)
    db.session.commit()
