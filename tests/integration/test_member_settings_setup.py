"""A merchant's member rules are made with the merchant (so that reading them never writes), and
migration 9d41c7a2e5b8 gives them to the merchants made before that."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from app.members.models import MemberSettings, Tier, TopUpRule
from tests.integration.test_wechat_secrets_migration import scratch_url  # noqa: F401  (the fixture)

BEFORE = "5e9a2c4b7d13"
BACKFILLED = "9d41c7a2e5b8"


def test_a_new_merchant_has_its_member_rules_before_anything_reads_them(make, db):
    tenant = make.tenant()
    merchant_id = tenant.merchant.id
    settings = db.session.scalar(sa.select(MemberSettings).where(MemberSettings.merchant_id == merchant_id))
    assert settings is not None and len(settings.member_code_secret) == 64
    tiers = db.session.scalars(sa.select(Tier.name).where(Tier.merchant_id == merchant_id).order_by(Tier.rank)).all()
    assert tiers == ["普通会员", "银卡", "金卡", "钻石卡"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TopUpRule)
                             .where(TopUpRule.merchant_id == merchant_id)) == 3


def test_reading_a_merchants_tiers_writes_nothing(make, db, app):
    tenant = make.tenant()
    owner = make.api(tenant.owner)
    assert owner.get("/stores").status_code == 200  # the owner's token is made before the count
    writes: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            writes.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        answer = owner.get("/member-tiers")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
    assert answer.status_code == 200 and len(answer.get_json()["tiers"]) == 4
    assert writes == []


def test_the_migration_gives_member_rules_to_merchants_that_had_none(scratch_url):  # noqa: F811
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.members import service as members
    from config.settings import TestingConfig

    class Config(TestingConfig):
        SQLALCHEMY_DATABASE_URI = scratch_url

    app = create_app(Config)
    with app.app_context():
        try:
            upgrade(revision=BEFORE)
            now = datetime.now(UTC)
            with db.engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO merchant (id, name, created_at) VALUES (1, 'm', :now), "
                                     "(2, 'n', :now)"), {"now": now})
                # Merchant 1 has its own rules already: they stay as they are.
                conn.execute(sa.text(
                    "INSERT INTO member_settings (merchant_id, points_per_yuan, earning_tenders, points_expiry_kind,"
                    " cents_per_point, max_points_share_percent, member_code_secret)"
                    " VALUES (1, 3, '[\"cash\"]', 'never', 1, 10, 'own-secret')"))
                conn.execute(sa.text("INSERT INTO tier (merchant_id, name, name_en, rank, discount_percent,"
                                     " points_multiplier_percent) VALUES (1, '会员', 'Member', 0, 0, 100)"))

            upgrade(revision=BACKFILLED)
            own = members.settings_for(1)
            assert (own.points_per_yuan, own.member_code_secret) == (3, "own-secret")
            assert [t.name for t in members.tiers_of(1)] == ["会员"]
            made = members.settings_for(2)
            assert (made.points_per_yuan, made.cents_per_point, made.max_points_share_percent) == (1, 1, 50)
            assert made.earning_tenders == ["cash", "wechat", "stored_value"] and len(made.member_code_secret) == 64
            assert [(t.name, t.discount_percent) for t in members.tiers_of(2)] == [
                ("普通会员", 0), ("银卡", 5), ("金卡", 12), ("钻石卡", 20)]
            rules = db.session.scalars(sa.select(TopUpRule).where(TopUpRule.merchant_id == 2)
                                       .order_by(TopUpRule.min_cents)).all()
            assert [(r.min_cents, r.bonus_cents, r.is_repeat) for r in rules] == [
                (50_000, 5_000, False), (100_000, 15_000, False), (300_000, 60_000, False)]
            db.session.rollback()
        finally:
            db.session.remove()
            db.engine.dispose()
