"""Red envelopes (拼手气红包): a pool split once at funding, each member grabs once, and whatever
the interleaving of grabs the shares handed out sum to the pool exactly."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from app.actor import Actor
from app.fans import service
from app.fans.models import EnvelopeShare
from app.members.models import Account, LedgerEntry, Member
from tests.integration.fans_support import csrf_of, merchant_with_wechat, phone, together


def _fund(make, tenant, pool_cents: int = 10_000, shares: int = 10):
    envelope = service.fund_envelope(actor=Actor.system(tenant.merchant.id), name="周末红包", pool_cents=pool_cents,
                                     shares=shares)
    make.db.session.commit()
    return envelope


def _member(make, tenant, i: int) -> Member:
    from app.members import service as members

    member = members.create_member(actor=Actor.system(tenant.merchant.id), phone=f"136{i:08d}", name=f"抢{i}",
                                   openid=f"o-grab-{i:04d}-{uuid.uuid4().hex[:6]}")
    return member


def test_the_pool_is_split_at_funding_and_sums_to_it(make):
    tenant = merchant_with_wechat(make)
    envelope = _fund(make, tenant)
    amounts = make.db.session.scalars(sa.select(EnvelopeShare.amount_cents).where(
        EnvelopeShare.envelope_id == envelope.id)).all()
    assert len(amounts) == 10 and sum(amounts) == 10_000 and min(amounts) >= 1


def test_thirty_phones_grabbing_ten_shares_at_once_get_exactly_the_pool(app, make):
    tenant = merchant_with_wechat(make)
    envelope = _fund(make, tenant)
    people = [_member(make, tenant, i) for i in range(30)]
    make.db.session.commit()
    clients = [phone(app, tenant, m.openid) for m in people]
    code = envelope.code
    tokens = [csrf_of(client, f"/e/{code}") for client in clients]
    # Each person taps twice at the same moment: one share each, never two.
    answers = together(60, lambda i: clients[i % 30].post(f"/e/{code}/grab", data={"csrf_token": tokens[i % 30]}))
    assert {a.status_code for a in answers} == {302}
    make.db.session.rollback()
    shares = make.db.session.scalars(sa.select(EnvelopeShare).where(EnvelopeShare.envelope_id == envelope.id)).all()
    grabbed = [s for s in shares if s.member_id is not None]
    assert len(grabbed) == 10
    assert len({s.member_id for s in grabbed}) == 10
    assert sum(s.amount_cents for s in grabbed) == 10_000
    credited = make.db.session.scalar(sa.select(sa.func.sum(LedgerEntry.delta)).where(
        LedgerEntry.merchant_id == tenant.merchant.id, LedgerEntry.account == Account.BONUS))
    assert credited == 10_000
    bonus = make.db.session.scalar(sa.select(sa.func.sum(Member.bonus_cents)).where(
        Member.merchant_id == tenant.merchant.id))
    assert bonus == 10_000


def test_a_second_grab_by_the_same_member_returns_their_share(make):
    tenant = merchant_with_wechat(make)
    envelope = _fund(make, tenant, 500, 3)
    member = _member(make, tenant, 1)
    actor = Actor.system(tenant.merchant.id)
    first = service.grab(envelope, member, now=envelope.created_at, actor=actor)
    again = service.grab(envelope, member, now=envelope.created_at, actor=actor)
    make.db.session.commit()
    assert first.id == again.id
    assert make.db.session.get(Member, member.id).bonus_cents == first.amount_cents


def test_a_non_member_is_asked_to_join_and_comes_back(app, make):
    tenant = merchant_with_wechat(make)
    envelope = _fund(make, tenant, 300, 3)
    client = phone(app, tenant, "o-not-yet-member")
    token = csrf_of(client, f"/e/{envelope.code}")
    answer = client.post(f"/e/{envelope.code}/grab", data={"csrf_token": token})
    assert answer.status_code == 302 and "/m/join" in answer.headers["Location"]
    assert f"next=/e/{envelope.code}" in answer.headers["Location"].replace("%2F", "/")


def test_an_empty_envelope_says_so(app, make):
    tenant = merchant_with_wechat(make)
    envelope = _fund(make, tenant, 100, 1)
    actor = Actor.system(tenant.merchant.id)
    service.grab(envelope, _member(make, tenant, 1), now=envelope.created_at, actor=actor)
    make.db.session.commit()
    late = _member(make, tenant, 2)
    make.db.session.commit()
    client = phone(app, tenant, late.openid)
    page = client.get(f"/e/{envelope.code}")
    assert page.status_code == 200 and 'id="grab"' not in page.get_data(as_text=True)
    assert "1 of 1 grabbed" in page.get_data(as_text=True) or "1 / 1" in page.get_data(as_text=True) \
        or "已抢" in page.get_data(as_text=True)


def test_a_voucher_envelope_gives_each_grabber_a_cash_coupon_worth_their_share(app, make):
    from app.coupons.models import Coupon, CouponTemplate
    from app.fans.models import EnvelopeKind

    tenant = merchant_with_wechat(make)
    envelope = service.fund_envelope(actor=Actor.system(tenant.merchant.id), name="周末红包", pool_cents=3_000,
                                     shares=5, kind=EnvelopeKind.COUPON, coupon_valid_days=14)
    make.db.session.commit()
    people = [_member(make, tenant, i) for i in range(8)]
    make.db.session.commit()
    clients = [phone(app, tenant, m.openid) for m in people]
    code = envelope.code
    tokens = [csrf_of(client, f"/e/{code}") for client in clients]
    answers = together(8, lambda i: clients[i].post(f"/e/{code}/grab", data={"csrf_token": tokens[i]}))
    assert {a.status_code for a in answers} == {302}
    make.db.session.rollback()
    coupons = make.db.session.scalars(sa.select(Coupon).join(CouponTemplate)).all()
    assert len(coupons) == 5 and len({c.member_id for c in coupons}) == 5
    assert sum(c.template.value_cents for c in coupons) == 3_000
    assert all((c.expires_at - c.issued_at).days == 14 for c in coupons)
    shares = make.db.session.scalars(sa.select(EnvelopeShare).where(EnvelopeShare.member_id.is_not(None))).all()
    assert sorted(s.coupon_id for s in shares) == sorted(c.id for c in coupons)
    assert make.db.session.scalar(sa.select(sa.func.sum(Member.bonus_cents))) == 0


def test_a_voucher_envelope_needs_a_validity(make):
    import pytest

    from app.errors import APIError
    from app.fans.models import EnvelopeKind

    tenant = merchant_with_wechat(make)
    with pytest.raises(APIError) as refused:
        service.fund_envelope(actor=Actor.system(tenant.merchant.id), name="红包", pool_cents=100, shares=2,
                              kind=EnvelopeKind.COUPON)
    assert refused.value.error_code == "invalid_envelope"


def test_any_order_of_grabs_hands_out_exactly_the_pool(make):
    """Hypothesis picks who taps when (people tapping again included): each person holds at most
    one share, nothing beyond the pool is ever handed out, and once every share is taken exactly
    the pool has been."""
    from hypothesis import HealthCheck, example, given, settings
    from hypothesis import strategies as st

    tenant = merchant_with_wechat(make)
    people = [_member(make, tenant, i) for i in range(14)]
    make.db.session.commit()
    ids = [m.id for m in people]
    actor = Actor.system(tenant.merchant.id)

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.integers(0, 13), min_size=1, max_size=40))
    @example([0, 0, *range(14), 3])  # everyone taps: the envelope empties
    def grabs_in_this_order(order):
        envelope = service.fund_envelope(actor=actor, name="红包", pool_cents=10_000, shares=10)
        make.db.session.commit()
        held: dict[int, int] = {}
        for who in order:
            member = make.db.session.get(Member, ids[who])
            try:
                share = service.grab(envelope, member, now=envelope.created_at, actor=actor)
            except Exception as error:
                make.db.session.rollback()
                assert error.error_code == "envelope_empty" and len(held) == 10
                continue
            make.db.session.commit()
            assert held.setdefault(who, share.id) == share.id  # the same share again, never a second
            grabbed = make.db.session.scalars(sa.select(EnvelopeShare.amount_cents).where(
                EnvelopeShare.envelope_id == envelope.id, EnvelopeShare.member_id.is_not(None))).all()
            assert len(grabbed) == len(held) and sum(grabbed) <= 10_000
        if len(held) == 10:
            total = make.db.session.scalar(sa.select(sa.func.sum(EnvelopeShare.amount_cents)).where(
                EnvelopeShare.envelope_id == envelope.id, EnvelopeShare.member_id.is_not(None)))
            assert total == 10_000

    grabs_in_this_order()
