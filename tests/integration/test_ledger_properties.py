"""Property: over any sequence of member operations on the real database, each account's cached
balance equals the sum of its ledger entries, and no balance ever goes below zero."""

import itertools

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.actor import Actor
from app.db import utcnow
from app.errors import APIError
from app.members import service
from app.members.ledger import Refs, lock_member
from app.members.models import Account, LedgerEntry, Member

_keys = itertools.count()

operations = st.lists(st.one_of(
    st.tuples(st.just("topup"), st.integers(1, 400_000)),
    st.tuples(st.just("spend"), st.integers(1, 200_000)),
    st.tuples(st.just("cashout"), st.integers(1, 100_000)),
    st.tuples(st.just("adjust_points"), st.integers(-5_000, 5_000)),
    st.tuples(st.just("adjust_bonus"), st.integers(-50_000, 50_000)),
    st.tuples(st.just("earn"), st.integers(1, 3_000)),
    st.tuples(st.just("redeem"), st.integers(1, 3_000)),
), min_size=1, max_size=12)


def _apply(actor: Actor, member_id: int, op: str, amount: int) -> None:
    key = f"prop-{next(_keys)}"
    if op == "topup":
        service.top_up(member_id, amount, key=key, tender="cash", now=utcnow(), actor=actor)
    elif op == "spend":
        service.spend_stored_value(lock_member(member_id, actor=actor), amount, key=key, refs=Refs(), actor=actor)
    elif op == "cashout":
        service.cash_out(member_id, key=key, amount_cents=amount, reason="property test", actor=actor)
    elif op == "adjust_points" and amount:
        service.adjust(member_id, Account.POINTS, amount, key=key, reason="property test", actor=actor, now=utcnow())
    elif op == "adjust_bonus" and amount:
        service.adjust(member_id, Account.BONUS, amount, key=key, reason="property test", actor=actor, now=utcnow())
    elif op == "earn":
        service.earn_points(lock_member(member_id, actor=actor), amount, key=key, now=utcnow(), refs=Refs(),
                            actor=actor)
    elif op == "redeem":
        service.redeem_points(lock_member(member_id, actor=actor), amount, key=key, now=utcnow(), refs=Refs(),
                              actor=actor)


def test_cached_balances_always_equal_the_ledger(app, make, db):
    tenant = make.tenant()
    merchant_id = tenant.merchant.id
    phones = itertools.count(13_000_000_000)

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(operations)
    def check(ops):
        actor = Actor.system(merchant_id)
        with app.test_request_context():
            member = service.create_member(actor=actor, phone=str(next(phones)), name="测试")
            db.session.commit()
            for op, amount in ops:
                try:
                    _apply(actor, member.id, op, amount)
                    db.session.commit()
                except APIError:
                    db.session.rollback()  # refused: nothing may have changed
                fresh = db.session.get(Member, member.id)
                db.session.refresh(fresh)
                sums = dict(db.session.execute(sa.select(LedgerEntry.account, sa.func.sum(LedgerEntry.delta))
                                               .where(LedgerEntry.member_id == member.id)
                                               .group_by(LedgerEntry.account)).all())
                for account in Account:
                    assert fresh.balance(account) == (sums.get(account) or 0)
                    assert fresh.balance(account) >= 0

    check()
