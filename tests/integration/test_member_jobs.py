"""Scheduled member jobs: points expiry and the tier review."""

import uuid
from datetime import UTC, datetime, timedelta

from app.members.jobs import review_tiers
from app.members.models import Member, PointsLot, TierChangeLog
from app.members.service import expire_all_points
from app.scheduler import for_every_merchant
from tests.factories import create_member


def test_points_expiry_job_expires_lapsed_lots_only(make, db):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    member = create_member(make, tenant)
    api.post(f"/members/{member['id']}/adjustments", json={"account": "points", "delta": 500, "reason": "活动赠送",
                                                           "idempotency_key": uuid.uuid4().hex})
    api.post(f"/members/{member['id']}/adjustments", json={"account": "points", "delta": 200, "reason": "活动赠送",
                                                           "idempotency_key": uuid.uuid4().hex})
    lots = db.session.query(PointsLot).order_by(PointsLot.id).all()
    lots[0].expires_at = datetime(2020, 1, 1, tzinfo=UTC)
    db.session.commit()
    assert for_every_merchant(expire_all_points, datetime.now(UTC)) == {tenant.merchant.id: 500}
    card = api.get(f"/members/{member['id']}").get_json()
    assert card["points"] == 200
    kinds = [e["kind"] for e in api.get(f"/members/{member['id']}/ledger").get_json()["entries"]]
    assert kinds[0] == "points_expire"
    assert for_every_merchant(expire_all_points, datetime.now(UTC)) == {tenant.merchant.id: 0}


def test_tier_review_moves_down_a_member_who_no_longer_qualifies(make, db):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    member = create_member(make, tenant)
    api.post(f"/members/{member['id']}/topups", json={"amount_cents": 100_000, "tender": "cash",
                                                       "idempotency_key": uuid.uuid4().hex})
    assert api.get(f"/members/{member['id']}").get_json()["tier"]["name"] == "银卡"
    # A year and a day later, nothing has been spent or topped up since.
    later = datetime.now(UTC) + timedelta(days=366)
    assert for_every_merchant(review_tiers, later) == {tenant.merchant.id: 1}
    db.session.expire_all()
    assert db.session.get(Member, member["id"]).tier.rank == 0
    log = db.session.query(TierChangeLog).order_by(TierChangeLog.id.desc()).first()
    assert log.reason_code == "review_not_requalified"
