"""Properties of the tender plan that must hold for every bill and every set of tenders."""

from hypothesis import given, settings
from hypothesis import strategies as st

from tablerules.tenders import (
    NOTHING_LEFT_TO_PAY,
    TENDERS_DO_NOT_COVER_TOTAL,
    TENDERS_EXCEED_TOTAL,
    Tender,
    TenderError,
    TenderType,
    plan_refund,
    plan_tenders,
    wechat_remainder,
)

PROPERTY = settings(max_examples=400, deadline=None)
payables = st.integers(0, 500_000)
tenders = st.lists(st.builds(Tender, st.sampled_from(list(TenderType)), st.integers(1, 300_000)), max_size=6)
others = st.lists(st.builds(Tender, st.sampled_from([TenderType.CASH, TenderType.STORED_VALUE]),
                            st.integers(1, 300_000)), max_size=4)


@PROPERTY
@given(payables, tenders)
def test_a_plan_pays_exactly_the_payable_and_only_cash_gives_change(payable, given_tenders):
    cash = sum(t.amount_cents for t in given_tenders if t.type is TenderType.CASH)
    non_cash = sum(t.amount_cents for t in given_tenders) - cash
    try:
        plan = plan_tenders(payable, given_tenders)
    except TenderError as error:
        # Refused exactly when a rule is broken, and for the first rule broken.
        if cash + non_cash < payable:
            assert error.code == TENDERS_DO_NOT_COVER_TOTAL
        else:
            assert error.code == TENDERS_EXCEED_TOTAL and non_cash > payable
        return
    assert cash + non_cash >= payable and non_cash <= payable
    assert sum(cents for _, cents in plan.applied) == payable
    assert plan.change_cents == plan.tendered_cents - payable == cash + non_cash - payable
    assert 0 <= plan.change_cents <= cash
    assert all(cents >= 0 for _, cents in plan.applied)
    assert plan.applied_cents(TenderType.STORED_VALUE) == sum(
        t.amount_cents for t in given_tenders if t.type is TenderType.STORED_VALUE)


@PROPERTY
@given(payables, tenders, st.randoms(use_true_random=False))
def test_the_order_of_the_tenders_does_not_matter(payable, given_tenders, rnd):
    shuffled = list(given_tenders)
    rnd.shuffle(shuffled)
    try:
        first = plan_tenders(payable, given_tenders)
    except TenderError as error:
        try:
            plan_tenders(payable, shuffled)
        except TenderError as again:
            assert (again.code, again.details) == (error.code, error.details)
        else:
            raise AssertionError("the same tenders in another order were accepted") from None
        return
    assert plan_tenders(payable, shuffled) == first


@PROPERTY
@given(payables, others)
def test_the_wechat_remainder_and_the_other_tenders_pay_the_bill_without_change(payable, given_others):
    try:
        wechat = wechat_remainder(payable, given_others)
    except TenderError as error:
        assert error.code == NOTHING_LEFT_TO_PAY
        assert sum(t.amount_cents for t in given_others) >= payable
        return
    assert wechat > 0
    plan = plan_tenders(payable, [*given_others, Tender(TenderType.WECHAT, wechat)])
    assert plan.change_cents == 0 and plan.applied_cents(TenderType.WECHAT) == wechat
    assert wechat_remainder(payable, given_others, asked_cents=wechat) == wechat


@PROPERTY
@given(st.dictionaries(st.sampled_from(list(TenderType)), st.integers(0, 100_000), min_size=1), st.data())
def test_a_refund_never_takes_more_from_a_tender_than_it_holds(refundable, data):
    amount = data.draw(st.integers(0, sum(refundable.values())))
    parts = plan_refund(amount, refundable)
    assert sum(parts.values()) == amount
    assert all(0 <= parts[t] <= refundable[t] for t in refundable)
    # Refunding in two steps, each spread over what is left, never overdraws a tender either.
    left = {t: refundable[t] - parts[t] for t in refundable}
    rest = plan_refund(sum(left.values()), left)
    assert rest == left
