"""The members' figures of the pyramid window kept as a rollup (`app.orders.figures`): equal to
what the raw bills give after settlements, partial and full refunds, a window moving on a day
and a window of another length; and the pyramid read from it is the pyramid of the bills."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.actor import Actor
from app.analytics import queries, service
from app.db import begin_write, utcnow
from app.members.models import FiguresWindow, MemberFigures
from app.orders import figures
from app.outbox.service import deliver_due
from tablerules import rfm
from tests.integration.test_analytics_pyramid import DAY, THRESHOLDS, Shop, build_members, key


@pytest.fixture
def shop(make, db):
    shop = Shop(make, db)
    assert shop.api.request("PUT", "/analytics/thresholds", json=THRESHOLDS).status_code == 200
    begin_write()
    figures.forget([shop.tenant.merchant.id])  # (setting the thresholds built it: start without one)
    db.session.commit()
    return shop


def _raw(db, merchant_id: int, start, end) -> dict[int, tuple]:
    rows = db.session.execute(queries.member_figures(merchant_id, start, end)).all()
    return {r.id: (r.visits, int(r.spend_cents), r.last_visit_at) for r in rows}


def _kept(db, merchant_id: int) -> dict[int, tuple]:
    db.session.expire_all()
    rows = db.session.scalars(sa.select(MemberFigures).where(MemberFigures.merchant_id == merchant_id)).all()
    return {r.member_id: (r.visits, r.spend_cents, r.last_visit_at) for r in rows}


def _keep(db, merchant_id: int, now=None) -> str:
    begin_write()
    done = service.keep_figures(now or utcnow(), actor=Actor.system(merchant_id))
    db.session.commit()
    return done


def _refund(shop, order_id: int, **body) -> None:
    response = shop.api.post(f"/orders/{order_id}/refund", json={"reason": "菜凉了", "idempotency_key": key(),
                                                                 **body})
    assert response.status_code == 200, response.get_json()


def test_the_rollup_follows_settlements_and_refunds_exactly(shop, db):
    merchant_id = shop.tenant.merchant.id
    ids = build_members(shop)
    assert _keep(db, merchant_id) == "built"
    now = utcnow()
    start = rfm.window_start(now)
    with_visits = {k: v for k, v in _raw(db, merchant_id, start, now).items() if v[0]}
    assert _kept(db, merchant_id) and {k: v for k, v in _kept(db, merchant_id).items() if v[0]} == with_visits
    assert _kept(db, merchant_id)[ids["流失I"]] == (0, 0, None)  # only a bill before the window

    # Then the bills go on: settled, refunded in part, refunded in full — each recomputed after
    # its commit, by the outbox.
    d = ids["潜力D"]
    order = shop.visit(d, 0, (shop.fish, 1), (shop.beer, 2))
    _refund(shop, order["id"], lines=[{"line_id": order["items"][1]["id"], "qty": 1}])
    last = shop.visit(ids["重要B"], 0, (shop.pork, 2))
    _refund(shop, last["id"])  # B's newest visit, refunded in full: the last visit moves back
    assert _kept(db, merchant_id)[d][0] == 2  # not yet: the outbox has not run
    report = deliver_due(utcnow())
    assert report.sent >= 4 and report.retried == 0
    assert _keep(db, merchant_id) == "current"
    now = utcnow()
    raw = _raw(db, merchant_id, start, now)
    kept = _kept(db, merchant_id)
    assert {k: v for k, v in kept.items() if v[0]} == {k: v for k, v in raw.items() if v[0]}
    assert kept[d][0] == 3 and kept[d][1] == raw[d][1] == 4_200 * 2 + 12_800 + 1_000
    assert kept[ids["重要B"]][0] == 3


def test_the_window_moves_on_and_changes_length(shop, db):
    merchant_id = shop.tenant.merchant.id
    build_members(shop)
    now = utcnow()
    assert _keep(db, merchant_id, now) == "built"
    # Eleven months later the bills of the first month have left the window.
    later = now + 330 * DAY
    assert _keep(db, merchant_id, later) == "moved"
    start = rfm.window_start(later)
    assert db.session.get(FiguresWindow, merchant_id).starts_at == start
    raw = {k: v for k, v in _raw(db, merchant_id, start, later).items() if v[0]}
    assert {k: v for k, v in _kept(db, merchant_id).items() if v[0]} == raw
    assert len(raw) < 8  # some members had all their visits before the new start
    # A window of six months instead of twelve: not current any more, then built whole by the job.
    assert shop.api.request("PUT", "/analytics/thresholds", json={"window_months": 6}).status_code == 200
    assert not figures.current(merchant_id, rfm.window_start(utcnow(), 6), 6)
    assert _keep(db, merchant_id) == "built"
    assert figures.current(merchant_id, rfm.window_start(utcnow(), 6), 6)
    start6 = rfm.window_start(utcnow(), 6)
    assert {k: v for k, v in _kept(db, merchant_id).items() if v[0]} == {
        k: v for k, v in _raw(db, merchant_id, start6, utcnow()).items() if v[0]}


def test_the_pyramid_from_the_rollup_is_the_pyramid_of_the_bills(shop, db):
    merchant_id = shop.tenant.merchant.id
    build_members(shop)
    from_bills = shop.pyramid()
    assert not figures.current(merchant_id, rfm.window_start(utcnow()), rfm.DEFAULT_WINDOW_MONTHS)
    _keep(db, merchant_id)
    assert figures.current(merchant_id, rfm.window_start(utcnow()), rfm.DEFAULT_WINDOW_MONTHS)
    from_rollup = shop.pyramid()
    assert from_rollup["layers"] == from_bills["layers"]
    assert {row["layer"]: row["members"] for row in from_rollup["layers"]}["core"] == 1


def test_default_thresholds_are_taken_once_with_the_window(shop, db):
    merchant_id = shop.tenant.merchant.id
    unset = {name: None for name in THRESHOLDS}
    assert shop.api.request("PUT", "/analytics/thresholds", json=unset).status_code == 200
    build_members(shop)
    from_bills = shop.pyramid()
    _keep(db, merchant_id)
    kept = db.session.get(FiguresWindow, merchant_id).quantiles
    assert kept["n"] == 7 and kept["p75_visits"] >= 1  # the members with a visit in the window
    from_rollup = shop.pyramid()
    assert from_rollup["thresholds"] == from_bills["thresholds"] and from_rollup["layers"] == from_bills["layers"]
    # Every page takes the day's defaults: the member lists place members as the pyramid counts them.
    scoring = service.score_members(merchant_id, utcnow())
    assert {row.layer.value: row.members for row in scoring.summary()} == {
        row["layer"]: row["members"] for row in from_rollup["layers"]}
