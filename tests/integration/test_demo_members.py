"""The demo restaurant's members and bills: every layer of the pyramid filled, bills that read and
refund like real ones, and the member ledgers untouched (balances zero, no entries)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from app.members.models import LedgerEntry, Member, MemberVisit, Tier
from app.orders.models import Order, OrderLine, Payment
from tablerules.bill import ChargedBill


def test_demo_members_fill_the_pyramid_and_keep_the_ledgers(make, db):
    from app.demo.seed import PASSWORD, load_demo

    assert load_demo(member_count=400)
    token = make.client.post("/api/v1/auth/token", json={"username": "owner", "password": PASSWORD}).get_json()
    api = make.api(token=token["token"])

    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == 400
    bills = db.session.scalar(sa.select(sa.func.count()).select_from(Order))
    assert bills > 1_000
    pyramid = api.get("/analytics/pyramid").get_json()
    assert pyramid["totals"]["members"] == 400 and pyramid["totals"]["visits"] > 1_000
    assert all(layer["members"] > 0 for layer in pyramid["layers"]), pyramid["layers"]

    from app.analytics import service
    from app.db import utcnow

    now = utcnow()
    merchant_id = db.session.scalar(sa.select(Member.merchant_id).limit(1))
    in_python = service.score_members(merchant_id, now)
    assert service.pyramid(merchant_id, now).layers == in_python.summary()  # the SQL rule is the Python rule

    # Cash, no points: no ledger entry, every balance zero.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == 0
    assert db.session.scalar(sa.select(sa.func.max(Member.principal_cents + Member.bonus_cents + Member.points))) == 0
    # Each bill: its charged bill, its one cash payment and its visit agree; lines add up.
    paid = dict(db.session.execute(sa.select(Payment.order_id, Payment.amount_cents)).all())
    visits = dict(db.session.execute(sa.select(MemberVisit.order_id, MemberVisit.paid_cents)).all())
    subtotals = dict(db.session.execute(sa.select(OrderLine.order_id, sa.func.sum(
        OrderLine.unit_price_cents * OrderLine.qty)).group_by(OrderLine.order_id)).all())
    for order in db.session.scalars(sa.select(Order)):
        charged = ChargedBill.from_dict(order.bill)
        assert charged.payable_cents == order.payable_cents == order.paid_cents == paid[order.id] == visits[order.id]
        assert order.subtotal_cents == subtotals[order.id] == charged.priced.subtotal_cents
    # Tiers follow the spend: a gold member got there through the upgrade log.
    upgraded = db.session.scalar(sa.select(sa.func.count()).select_from(Member).join(Tier)
                                 .where(Tier.rank > 0))
    assert upgraded > 0

    # A demo bill refunds like any other, and leaves the member's figures.
    order = db.session.scalar(sa.select(Order).where(Order.discount_cents > 0).order_by(Order.id).limit(1))
    before = api.get(f"/analytics/members/{order.member_id}").get_json()
    response = api.post(f"/orders/{order.id}/refund", json={"reason": "演示退款", "idempotency_key": uuid.uuid4().hex})
    assert response.status_code == 200, response.get_json()
    # The demo's pyramid reads the members' figures from the rollup, which the outbox recomputes
    # after the refund commits.
    from app.outbox.service import deliver_due

    deliver_due(utcnow(), limit=100_000)
    after = api.get(f"/analytics/members/{order.member_id}").get_json()
    # Six months of bills: all inside the 12-month window.
    assert (after["visits"], after["spend_cents"]) == (before["visits"] - 1, before["spend_cents"] - order.paid_cents)
    assert load_demo(member_count=400) is False  # nothing twice
