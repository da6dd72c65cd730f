"""The sales of past days kept per store and local day (`app.orders.sales_days`): the dashboard's
hand-built figures are the same when its days are read from the rollup (the dashboard's own tests
run again here over kept days), and are the bills' own again once the outbox has run after a
refund of a kept day's bill and a bill settled after its day (as the agent syncs one)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from app.actor import Actor
from app.analytics import sales
from app.db import begin_write, utcnow
from app.orders.models import SalesDay, SalesDayDish, SalesHour
from app.outbox.service import deliver_due
from tablerules.tenders import TenderType
from tests.integration.test_sales_dashboard import DAY, Shop, at, build
from tests.integration.test_sales_dashboard import test_one_store_and_the_week_and_month as _store_week_month
from tests.integration.test_sales_dashboard import test_the_day_for_the_chain as _day_for_the_chain


def _keep(db, merchant_id: int) -> int:
    kept = sales.keep_sales_days(utcnow(), actor=Actor.system(merchant_id))
    db.session.commit()
    return kept


@pytest.fixture
def shop(make, db):
    shop = Shop(make, db)
    build(shop)
    assert _keep(db, shop.tenant.merchant.id) > 0
    return shop


def test_the_day_for_the_chain_from_kept_days(shop, db):
    assert date(2026, 11, 18) in sales.sales_days.kept_days(shop.tenant.merchant.id, [shop.store1, shop.store2],
                                                             DAY, DAY)
    _day_for_the_chain(shop)


def test_one_store_and_the_week_and_month_from_kept_days(shop):
    _store_week_month(shop)


def _from_bills(shop, db, **query) -> dict:
    """The same answer with no day kept: read from the bills (then the days are kept again)."""
    db.session.execute(sa.update(SalesDay).values(is_kept=False))
    db.session.commit()
    body = shop.sales(**query)
    db.session.execute(sa.update(SalesDay).values(is_kept=True))
    db.session.commit()
    return body


def test_kept_days_are_read_and_today_never_kept(shop, db):
    merchant_id = shop.tenant.merchant.id
    today = sales.local_today(utcnow())
    days = db.session.scalars(sa.select(SalesDay.day).where(SalesDay.merchant_id == merchant_id,
                                                            SalesDay.is_kept)).all()
    assert min(days) == date(2026, 10, 31) and max(days) == today - timedelta(days=1)
    assert today not in days and len(days) == 2 * (today - date(2026, 10, 31)).days  # two stores
    assert _keep(db, merchant_id) == 0  # nothing new to keep
    # The dashboard reads the kept rows: change one and the answer follows (then put it back).
    row = db.session.scalar(sa.select(SalesHour).where(SalesHour.day == DAY, SalesHour.hour == 12))
    row.revenue_cents += 1
    db.session.commit()
    assert shop.sales(period="today")["totals"]["revenue_cents"] == 48_800 + 1
    row.revenue_cents -= 1
    db.session.commit()
    assert shop.sales(period="today") == _from_bills(shop, db, period="today")


def _outbox() -> None:
    report = deliver_due(utcnow())
    assert report.sent >= 1 and report.failed == report.retried == report.dead == 0


def test_a_refund_of_a_kept_day_and_a_late_bill_are_counted_after_commit(shop, db):
    # A bill of the 18th settled now (as the agent syncs a sale made offline that day): the
    # settlement does not touch the kept day; the outbox recomputes it after the commit.
    late = shop.sale(shop.store2, at(DAY, 14), [(shop.fish, 1), (shop.pork, 1)], [(TenderType.CASH, 17_000)])
    fish_line = next(line["id"] for line in late["items"] if line["dish_id"] == shop.fish["id"])
    assert shop.sales(period="today")["totals"]["orders"] == 4  # not yet
    _outbox()
    day = shop.sales(period="today")
    assert day["totals"]["orders"] == 5 and day["totals"]["revenue_cents"] == 48_800 + 17_000
    assert day == _from_bills(shop, db, period="today")
    # ... then its fish refunded: the kept day follows, tender mix and dishes too.
    shop.refund(late, [{"line_id": fish_line, "qty": 1}])
    _outbox()
    for period in ("today", "week", "month"):
        for store in ({}, {"store_id": shop.store2}):
            assert shop.sales(period=period, **store) == _from_bills(shop, db, period=period, **store)
    day = shop.sales(period="today")
    assert day["totals"]["revenue_cents"] == 48_800 + 4_200 and day["totals"]["refunded_cents"] == 5_200 + 12_800
    assert {t["tender"]: t["cents"] for t in day["tenders"]}["cash"] == 38_800 + 4_200
    fish = db.session.scalar(sa.select(SalesDayDish.qty).where(SalesDayDish.day == DAY,
                                                               SalesDayDish.dish_id == shop.fish["id"],
                                                               SalesDayDish.store_id == shop.store2))
    assert fish == 1  # the banquet's fish at the second store; the late one given back
    # The whole bill refunded: no order that day any more.
    shop.refund(late)
    _outbox()
    day = shop.sales(period="today")
    assert day["totals"]["orders"] == 4 and day == _from_bills(shop, db, period="today")


def test_a_day_kept_again_holds_its_sales_once(shop, db):
    """Kept twice (a day forgotten and kept again): the same rows, not twice the sales."""
    merchant_id = shop.tenant.merchant.id
    before = shop.sales(period="month")
    begin_write()
    db.session.execute(sa.update(SalesDay).where(SalesDay.day == DAY).values(is_kept=False))
    db.session.commit()
    assert _keep(db, merchant_id) == 2  # the day, at both stores
    assert shop.sales(period="month") == before
