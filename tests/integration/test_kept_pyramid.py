"""The pyramid's layer totals kept per process (`app.analytics.kept_pyramid`): read again, they
are the totals counted afresh — right after a settlement and a refund reach the rollup, after a
member joins, after the thresholds change, when the window moves on, and as "now" moves on and
members pass a threshold with no write at all."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.actor import Actor
from app.analytics import kept_pyramid, queries, service
from app.db import begin_write, utcnow
from app.members.models import Member
from app.orders import figures
from app.outbox.service import deliver_due
from tests.integration.test_analytics_pyramid import DAY, THRESHOLDS, Shop, build_members, key

MINUTE = timedelta(minutes=1)


@pytest.fixture
def shop(make, db):
    shop = Shop(make, db)
    assert shop.api.request("PUT", "/analytics/thresholds", json=THRESHOLDS).status_code == 200
    kept_pyramid.forget()
    return shop


def _keep(db, merchant_id: int, now=None) -> str:
    begin_write()
    done = service.keep_figures(now or utcnow(), actor=Actor.system(merchant_id))
    db.session.commit()
    return done


def _pyramid(db, merchant_id: int, as_of) -> dict[str, tuple[int, int, int]]:
    """The pyramid as the API answers it (from what this process keeps, when it may)."""
    layers = service.pyramid(merchant_id, as_of).layers
    db.session.rollback()
    return {row.layer.value: (row.members, row.visits, row.revenue_cents) for row in layers if row.members}


def _counted(db, merchant_id: int, as_of, *, rollup: bool) -> dict[str, tuple[int, int, int]]:
    """The same counted afresh, over the rollup or over the raw bills, nothing kept."""
    _months, start, t = service.thresholds_in_force(merchant_id, as_of)
    rows = db.session.execute(queries.pyramid_summary(merchant_id, start, as_of, t, rollup=rollup)).all()
    db.session.rollback()
    return {row.layer: (row.members, int(row.visits), int(row.revenue_cents)) for row in rows if row.members}


def _refund(shop, order_id: int) -> None:
    response = shop.api.post(f"/orders/{order_id}/refund", json={"reason": "菜凉了", "idempotency_key": key()})
    assert response.status_code == 200, response.get_json()


def test_the_kept_pyramid_changes_right_after_a_settlement_and_a_refund(shop, db):
    merchant_id = shop.tenant.merchant.id
    ids = build_members(shop)
    assert _keep(db, merchant_id) == "built"
    now = utcnow()
    first = _pyramid(db, merchant_id, now)
    kept = kept_pyramid._kept[merchant_id]
    assert _pyramid(db, merchant_id, now) == first == _counted(db, merchant_id, now, rollup=False)
    assert kept_pyramid._kept[merchant_id] is kept  # the second answer was the kept one
    assert first["potential"] == (1, 2, 8_400)  # 潜力D: two visits

    # D comes a third time: frequent now, so important. Once the outbox has recomputed D's row,
    # the next read counts again.
    order = shop.visit(ids["潜力D"], 0, (shop.fish, 1))
    assert deliver_due(utcnow()).sent >= 1
    now = utcnow()
    settled = _pyramid(db, merchant_id, now)
    assert settled == _counted(db, merchant_id, now, rollup=False)
    assert "potential" not in settled and settled["important"] == (3, 7, 3 * 4_200 + 64_000 + 8_400 + 12_800)
    assert _pyramid(db, merchant_id, now) == settled  # kept again

    # Refunded in full: D is back where D was.
    _refund(shop, order["id"])
    assert deliver_due(utcnow()).sent >= 1
    now = utcnow()
    refunded = _pyramid(db, merchant_id, now)
    assert refunded == _counted(db, merchant_id, now, rollup=False) == first


def test_a_member_joining_and_new_thresholds_are_counted_at_once(shop, db):
    merchant_id = shop.tenant.merchant.id
    build_members(shop)
    _keep(db, merchant_id)
    before = _pyramid(db, merchant_id, utcnow())
    assert before["new"][0] == 2

    shop.member("新客J")  # joins: no rollup row is written, the stamp moves all the same
    now = utcnow()
    joined = _pyramid(db, merchant_id, now)
    assert joined["new"][0] == 3 and joined == _counted(db, merchant_id, now, rollup=False)

    # A shorter active span: 核心A (5 days ago) and 重要C (10 days ago) turn dormant.
    changed = {**THRESHOLDS, "active_days": 4}
    assert shop.api.request("PUT", "/analytics/thresholds", json=changed).status_code == 200
    now = utcnow()
    stricter = _pyramid(db, merchant_id, now)
    assert stricter != joined and stricter == _counted(db, merchant_id, now, rollup=False)
    assert stricter["dormant"][0] == joined["dormant"][0] + 2


def test_as_now_moves_on_members_pass_thresholds_exactly(shop, db):
    """Moments 20 minutes apart on either side of every moment a member passes a threshold (the
    kept totals moved on by the few members in between), and a member who joined between two
    moments: always the totals counted afresh."""
    merchant_id = shop.tenant.merchant.id
    build_members(shop)
    _keep(db, merchant_id)
    start, months, _stamp = figures.stamp(merchant_id)
    t = service.thresholds_in_force(merchant_id, utcnow())[2]
    rows = db.session.execute(queries.member_figures(merchant_id, start, utcnow(), rollup=True)).all()
    db.session.rollback()
    crossings = sorted({moment for row in rows for moment in (
        (row.last_visit_at or row.joined_at) + (t.active_days + 1) * DAY,
        (row.last_visit_at or row.joined_at) + (t.lost_days + 1) * DAY,
        row.joined_at + (t.new_member_days + 1) * DAY)})
    assert len(crossings) >= 20
    moved = 0
    for moment in crossings:
        totals = []
        for as_of in (moment - 10 * MINUTE, moment + 10 * MINUTE):
            totals.append(kept_pyramid.layer_totals(merchant_id, start, months, as_of, t))
            db.session.rollback()
            counted = _counted_at(db, merchant_id, start, as_of, t)
            assert {layer.value: n for layer, n in totals[-1].items() if n[0]} == counted, as_of
        moved += totals[0] != totals[1]
    assert moved >= 10  # the layers did change across the crossings, and the kept totals followed

    # A member committed now is not in a count as of just before they joined; ten minutes on, they are.
    joined_at = db.session.get(Member, shop.member("新客K")).created_at
    db.session.rollback()
    now = utcnow()
    earlier = kept_pyramid.layer_totals(merchant_id, start, months, joined_at - timedelta(milliseconds=1), t)
    later = kept_pyramid.layer_totals(merchant_id, start, months, now + 10 * MINUTE, t)
    db.session.rollback()
    assert sum(n[0] for n in later.values()) == sum(n[0] for n in earlier.values()) + 1
    assert {layer.value: n for layer, n in later.items() if n[0]} == _counted_at(
        db, merchant_id, start, now + 10 * MINUTE, t)


def _counted_at(db, merchant_id: int, start, as_of, t) -> dict[str, tuple[int, int, int]]:
    rows = db.session.execute(queries.pyramid_summary(merchant_id, start, as_of, t, rollup=True)).all()
    db.session.rollback()
    return {row.layer: (row.members, int(row.visits), int(row.revenue_cents)) for row in rows if row.members}


def test_the_kept_pyramid_follows_the_window_moving_on(shop, db):
    merchant_id = shop.tenant.merchant.id
    build_members(shop)
    now = utcnow()
    _keep(db, merchant_id, now)
    first = _pyramid(db, merchant_id, now)
    assert first == _counted(db, merchant_id, now, rollup=False)
    later = now + 200 * DAY  # 流失H's only visit leaves the window
    assert _keep(db, merchant_id, later) == "moved"
    moved_on = _pyramid(db, merchant_id, later)
    assert moved_on == _counted(db, merchant_id, later, rollup=False)
    assert kept_pyramid._kept[merchant_id].start == figures.stamp(merchant_id)[0] > now - 200 * DAY
    visits = lambda totals: sum(v for _m, v, _r in totals.values())  # noqa: E731
    assert visits(moved_on) == visits(first) - 1 == 14
