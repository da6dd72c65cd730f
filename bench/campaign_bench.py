"""A campaign to N members: segment counts, then the send — coupons issued and WeChat messages
queued — timed, with the send killed part-way and resumed, and checked for doubles.

Generates one merchant with N members (tags and birthdays on every member) and, on PostgreSQL,
3·N bills over the last year, then times:

- a segment count on member-row filters only (birthday month + tag): one COUNT;
- a segment count with a pyramid layer (reads the per-member figures of the bills): one COUNT;
- the start of a campaign to every member (the audience frozen: one INSERT … SELECT);
- the batches (500 members each: coupons of a template + one outbox message per member +
  delivery rows marked), with the process "killed" in the middle of the send (an exception
  thrown before a batch's commit), then resumed to the end;

and checks that every member has exactly one delivery, one coupon and one queued message.

    psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE IF EXISTS tableloop_campaign_bench' \\
         -c 'CREATE DATABASE tableloop_campaign_bench'
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tableloop_campaign_bench \\
        .venv/bin/python bench/campaign_bench.py --members 100000

Without BENCH_DATABASE_URL it runs on a new SQLite file in a temporary folder (default 2,000
members, no bills: the layer count then counts everyone as new or lost).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from config.settings import DevelopmentConfig, _sqlalchemy_url

TAGS = ('["辣"]', '["商务"]', '["家庭", "辣"]', "[]")


class Killed(Exception):
    pass


def _generate(db, merchant_id: int, store_id: int, tier_id: int, members: int) -> None:
    now = datetime.now(UTC)
    table = sa.table("member", *(sa.column(c) for c in (
        "merchant_id", "member_no", "phone", "name", "gender", "tags", "notes", "tier_id", "principal_cents",
        "bonus_cents", "points", "birthday", "created_at")))
    conn = db.session.connection()
    chunk = 10_000
    for first in range(0, members, chunk):
        conn.execute(table.insert(), [
            {"merchant_id": merchant_id, "member_no": str(1_000_000_000 + g), "phone": str(13_000_000_000 + g),
             "name": f"会员{g}", "gender": 0, "tags": TAGS[g % len(TAGS)], "notes": "", "tier_id": tier_id,
             "principal_cents": 0, "bonus_cents": 0, "points": g % 1000,
             "birthday": date(1970 + g % 40, g % 12 + 1, g % 28 + 1), "created_at": now - timedelta(days=g % 700)}
            for g in range(first, min(first + chunk, members))])
    if db.session.get_bind().dialect.name == "postgresql":
        first_id = conn.execute(sa.text("SELECT min(id) FROM member WHERE merchant_id = :m"),
                                {"m": merchant_id}).scalar()
        conn.execute(sa.text("""
            INSERT INTO customer_order (merchant_id, store_id, table_code, status, member_id, subtotal_cents,
                                        discount_cents, payable_cents, paid_cents, change_cents, refunded_cents,
                                        paid_at, created_at)
            SELECT :m, :store, '', 2, :first + floor(:n * power(random(), 3))::int, a, 0, a, a, 0, 0, t, t
            FROM (SELECT (3000 + floor(random() * 60000))::bigint AS a,
                         :now - (random() * 365 || ' days')::interval AS t
                  FROM generate_series(1, :bills)) AS r"""),
                     {"m": merchant_id, "store": store_id, "first": first_id, "n": members - 1,
                      "bills": 3 * members, "now": now})
    db.session.commit()
    if db.session.get_bind().dialect.name == "postgresql":
        conn = db.session.connection()
        conn.exec_driver_sql("ANALYZE member")
        conn.exec_driver_sql("ANALYZE customer_order")
        db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tempfile.mkdtemp()}/campaign_bench.sqlite3"

    from flask_migrate import upgrade

    from app import create_app

    class Config(DevelopmentConfig):
        SQLALCHEMY_DATABASE_URI = _sqlalchemy_url(url)

    app = create_app(Config)
    with app.app_context():
        from app.actor import Actor
        from app.campaigns import service
        from app.campaigns.models import CampaignDelivery
        from app.coupons import service as coupons
        from app.coupons.models import Coupon
        from app.db import begin_write, db
        from app.members.models import Member
        from app.members.service import tiers_of
        from app.onboarding import create_tenant
        from app.outbox.models import OutboxMessage
        from tablerules.segments import parse_spec

        upgrade()
        if db.session.scalar(sa.select(sa.func.count()).select_from(Member)):
            raise SystemExit("the database already holds members; give an empty one")
        merchant, store, owner = create_tenant(merchant_name="基准商户", owner_username="bench-owner",
                                               password="bench-password-1")
        merchant_id = merchant.id
        tier_id = tiers_of(merchant_id)[0].id
        db.session.commit()
        started = time.perf_counter()
        _generate(db, merchant_id, store.id, tier_id, args.members)
        print(f"{db.session.get_bind().dialect.name}: generated {args.members:,} members "
              f"in {time.perf_counter() - started:.1f} s")
        actor = Actor(merchant_id=merchant_id, staff_id=owner.id, name="bench")
        now = datetime.now(UTC)

        def timed(label: str, work):
            began = time.perf_counter()
            result = work()
            print(f"{label}: {time.perf_counter() - began:.3f} s -> {result}")
            return result

        timed("segment count, birthday in March + tag 辣 (members only)", lambda: service.count_members(
            merchant_id, parse_spec({"birthday_months": [3], "tags": ["辣"]}), now))
        timed("segment count, layer dormant or lost (reads the bills)", lambda: service.count_members(
            merchant_id, parse_spec({"layers": ["dormant", "lost"]}), now))
        db.session.commit()

        begin_write()
        template = coupons.create_template(actor=actor, name="基准券", kind="cash", value_cents=1000, valid_days=30)
        segment = service.create_segment("全部会员", parse_spec({}), actor=actor, now=now)
        campaign = service.create_campaign(service.CampaignDraft(
            name="基准活动", segment_id=segment.id, coupon_template_id=template.id, message_title="回店有礼"),
            actor=actor, now=now)
        db.session.commit()
        campaign_id = campaign.id

        began = time.perf_counter()
        begin_write()
        audience = service.send_now(service.lock_campaign(merchant_id, campaign_id), actor=actor, now=now)
        db.session.commit()
        frozen = time.perf_counter() - began
        print(f"start (audience frozen as pending deliveries): {frozen:.3f} s -> {audience:,} members")

        batches = max(1, audience // args.batch // 2)
        seen = []

        def kill_half_way(processed: int) -> None:
            seen.append(processed)
            if len(seen) == batches + 1:
                raise Killed

        began = time.perf_counter()
        try:
            service.send_pending(merchant_id, campaign_id, now=now, batch_size=args.batch,
                                 before_commit=kill_half_way)
        except Killed:
            db.session.rollback()
        first_part = time.perf_counter() - began
        done = db.session.scalar(sa.select(sa.func.count()).select_from(CampaignDelivery).where(
            CampaignDelivery.campaign_id == campaign_id, CampaignDelivery.processed_at.is_not(None)))
        print(f"killed in batch {batches + 1}: {done:,} delivered and committed after {first_part:.1f} s")
        began = time.perf_counter()
        rest = service.send_pending(merchant_id, campaign_id, now=now, batch_size=args.batch)
        second_part = time.perf_counter() - began
        print(f"resumed: {rest:,} more in {second_part:.1f} s")
        sending = frozen + first_part + second_part
        print(f"campaign to {audience:,} members: {sending:.1f} s in all "
              f"({audience / sending:,.0f} members/s, coupons + queued messages)")

        deliveries = db.session.scalar(sa.select(sa.func.count()).select_from(CampaignDelivery).where(
            CampaignDelivery.campaign_id == campaign_id, CampaignDelivery.processed_at.is_not(None)))
        issued = db.session.execute(sa.select(sa.func.count(), sa.func.count(sa.distinct(Coupon.member_id)))
                                    .where(Coupon.template_id == template.id)).one()
        queued = db.session.execute(sa.select(sa.func.count(), sa.func.count(sa.distinct(OutboxMessage.dedupe_key)))
                                    .where(OutboxMessage.merchant_id == merchant_id,
                                           OutboxMessage.kind == "wechat.campaign")).one()
        assert deliveries == audience == args.members, (deliveries, audience)
        assert tuple(issued) == (audience, audience), issued
        assert tuple(queued) == (audience, audience), queued
        print(f"checked: {deliveries:,} deliveries, {issued[0]:,} coupons to {issued[1]:,} members, "
              f"{queued[0]:,} messages with {queued[1]:,} keys — nothing doubled, nobody missed")
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
              f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
