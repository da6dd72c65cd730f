"""The demo's fan acquisition: an opening lucky wheel with a coupon, points and a stored-value
bonus, its poster at the door of the first store, and a red envelope to share."""

from __future__ import annotations

import sqlalchemy as sa

from app.actor import Actor
from app.coupons import service as coupons
from app.db import db
from app.fans import service as fans
from app.fans.models import LuckyWheel, PrizeKind


def load_fans(merchant_id: int, store_id: int | None) -> bool:
    """Add the demo wheel, poster and red envelope unless the merchant has a wheel already."""
    if db.session.scalar(sa.select(LuckyWheel.id).where(LuckyWheel.merchant_id == merchant_id).limit(1)):
        return False
    actor = Actor.system(merchant_id, "demo")
    voucher = coupons.create_template(actor=actor, name="开业满100减20", name_en="Opening: ¥20 off ¥100",
                                      kind="cash", value_cents=2_000, min_spend_cents=10_000, valid_days=30)
    wheel = fans.create_wheel(actor=actor, name="开业幸运大转盘", name_en="Opening lucky wheel", per_person_total=3,
                              per_person_daily=1, prizes=[
                                  {"kind": PrizeKind.COUPON, "label": "满100减20", "label_en": "¥20 off",
                                   "coupon_template_id": voucher.id, "chance_bp": 3_000, "stock": 200},
                                  {"kind": PrizeKind.POINTS, "label": "88积分", "label_en": "88 points",
                                   "points": 88, "chance_bp": 2_000, "stock": 500},
                                  {"kind": PrizeKind.BONUS, "label": "5元余额", "label_en": "¥5 bonus",
                                   "bonus_cents": 500, "chance_bp": 1_000, "stock": 100},
                                  {"kind": PrizeKind.NOTHING, "label": "谢谢参与", "label_en": "Next time",
                                   "chance_bp": 4_000}])
    fans.create_poster(actor=actor, name="人民路店门口海报", headline="扫码关注 抽开业好礼", wheel_id=wheel.id,
                       store_id=store_id)
    envelope = fans.fund_envelope(actor=actor, name="周末拼手气红包", pool_cents=10_000, shares=10)
    fans.create_poster(actor=actor, name="周末红包海报", headline="拼手气红包 手慢无", envelope_id=envelope.id,
                       store_id=store_id)
    return True
