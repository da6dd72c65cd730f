"""member settings for every merchant: the default member rules, tiers and top-up offers of a
merchant that has none yet (they are now made with the merchant, so that reading them never writes)

Revision ID: 9d41c7a2e5b8
Revises: 5e9a2c4b7d13
Create Date: 2026-11-29 16:30:00.000000

"""
import json
import secrets

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9d41c7a2e5b8'
down_revision = '5e9a2c4b7d13'
branch_labels = None
depends_on = None

# The defaults as they were when this revision was written (app.members.service keeps the live ones).
TIERS = (
    # name, name_en, rank, % off, points multiplier %, 12-month spend, single top-up (fen)
    ("普通会员", "Member", 0, 0, 100, None, None),
    ("银卡", "Silver", 1, 5, 120, 200_000, 100_000),
    ("金卡", "Gold", 2, 12, 150, 500_000, 300_000),
    ("钻石卡", "Diamond", 3, 20, 200, 2_000_000, 1_000_000),
)
TOPUP_RULES = ((50_000, 5_000), (100_000, 15_000), (300_000, 60_000))


def upgrade():
    bind = op.get_bind()
    merchants = bind.execute(sa.text(
        "SELECT id FROM merchant WHERE NOT EXISTS "
        "(SELECT 1 FROM member_settings WHERE member_settings.merchant_id = merchant.id)")).scalars().all()
    for merchant_id in merchants:
        bind.execute(sa.text(
            "INSERT INTO member_settings (merchant_id, points_per_yuan, earning_tenders, points_expiry_kind, "
            "cents_per_point, max_points_share_percent, member_code_secret) "
            "VALUES (:m, 1, :tenders, 'end_of_year_after', 1, 50, :secret)"),
            {"m": merchant_id, "tenders": json.dumps(["cash", "wechat", "stored_value"]),
             "secret": secrets.token_hex(32)})
        has_tiers = bind.execute(sa.text("SELECT 1 FROM tier WHERE merchant_id = :m"), {"m": merchant_id}).first()
        if has_tiers is None:
            for name, name_en, rank, off, multiplier, spend, topup in TIERS:
                bind.execute(sa.text(
                    "INSERT INTO tier (merchant_id, name, name_en, rank, discount_percent, "
                    "points_multiplier_percent, spend_threshold_cents, topup_threshold_cents) "
                    "VALUES (:m, :name, :name_en, :rank, :off, :multiplier, :spend, :topup)"),
                    {"m": merchant_id, "name": name, "name_en": name_en, "rank": rank, "off": off,
                     "multiplier": multiplier, "spend": spend, "topup": topup})
        has_rules = bind.execute(sa.text("SELECT 1 FROM topup_rule WHERE merchant_id = :m"),
                                 {"m": merchant_id}).first()
        if has_rules is None:
            for min_cents, bonus_cents in TOPUP_RULES:
                bind.execute(sa.text(
                    "INSERT INTO topup_rule (merchant_id, min_cents, bonus_cents, is_repeat) "
                    "VALUES (:m, :min, :bonus, :repeat)"),
                    {"m": merchant_id, "min": min_cents, "bonus": bonus_cents, "repeat": False})


def downgrade():
    pass  # the rows are the merchants' own from here on: nothing to take back
