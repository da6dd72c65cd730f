"""The tender plan: cover, change, only cash may exceed, the WeChat remainder, refunds by tender."""

import pytest

from tablerules.tenders import (
    INVALID_TENDER,
    NOTHING_LEFT_TO_PAY,
    ONE_WECHAT_TENDER,
    REFUND_EXCEEDS_PAID,
    TENDERS_DO_NOT_COVER_TOTAL,
    TENDERS_EXCEED_TOTAL,
    Tender,
    TenderError,
    TenderType,
    plan_refund,
    plan_tenders,
    wechat_remainder,
    wechat_tender,
)

CASH, SV, WECHAT = TenderType.CASH, TenderType.STORED_VALUE, TenderType.WECHAT


def refused(code, fn, *args, **kwargs) -> TenderError:
    with pytest.raises(TenderError) as caught:
        fn(*args, **kwargs)
    assert caught.value.code == code
    return caught.value


def test_the_database_numbers_and_the_api_labels_stay_what_they_are():
    assert [(t.value, t.label) for t in TenderType] == [(1, "cash"), (2, "stored_value"), (3, "wechat")]
    assert TenderType.labels() == ["cash", "stored_value", "wechat"]
    assert TenderType.parse("stored_value") is SV and TenderType.parse(WECHAT) is WECHAT
    for bad in ("CASH", "Cash", "card", "", 1, None):
        with pytest.raises(ValueError):
            TenderType.parse(bad)


def test_cash_over_the_total_gives_change_and_pays_only_the_total():
    plan = plan_tenders(12_160, [Tender(CASH, 20_000)])
    assert plan.change_cents == 7_840
    assert plan.handed_cents(CASH) == 20_000 and plan.applied_cents(CASH) == 12_160
    assert plan.applied == ((CASH, 12_160),) and plan.tendered_cents == 20_000
    assert plan.applied_by_label() == [("cash", 12_160)]


def test_split_tenders_are_summed_per_type_in_type_order():
    plan = plan_tenders(10_000, [Tender(WECHAT, 3_000), Tender(CASH, 2_000), Tender(SV, 4_000), Tender(CASH, 1_500)])
    assert plan.handed == ((CASH, 3_500), (SV, 4_000), (WECHAT, 3_000))
    assert plan.change_cents == 500 and plan.applied_cents(CASH) == 3_000
    assert sum(cents for _, cents in plan.applied) == 10_000


def test_tenders_short_of_the_total_are_refused_with_what_was_tendered():
    error = refused(TENDERS_DO_NOT_COVER_TOTAL, plan_tenders, 10_000, [Tender(CASH, 5_000), Tender(SV, 4_999)])
    assert error.details == {"payable_cents": 10_000, "tendered_cents": 9_999}


@pytest.mark.parametrize("tenders", [[Tender(SV, 10_001)], [Tender(WECHAT, 6_000), Tender(SV, 4_001)],
                                     [Tender(WECHAT, 10_001), Tender(CASH, 100)]])
def test_only_cash_may_exceed_the_total(tenders):
    error = refused(TENDERS_EXCEED_TOTAL, plan_tenders, 10_000, tenders)
    assert error.details["payable_cents"] == 10_000 and error.details["non_cash_cents"] > 10_000


def test_a_free_bill_needs_no_tender_but_a_tender_must_be_positive():
    assert plan_tenders(0, []).change_cents == 0
    refused(INVALID_TENDER, plan_tenders, 100, [Tender(CASH, 0)])
    refused(INVALID_TENDER, plan_tenders, 100, [Tender(CASH, -100), Tender(CASH, 200)])
    with pytest.raises(ValueError):
        plan_tenders(-1, [])


def test_wechat_takes_what_the_other_tenders_leave():
    assert wechat_remainder(15_200, []) == 15_200
    assert wechat_remainder(15_200, [Tender(CASH, 5_000), Tender(SV, 200)]) == 10_000
    assert wechat_remainder(15_200, [Tender(CASH, 5_000)], asked_cents=10_200) == 10_200
    error = refused(TENDERS_DO_NOT_COVER_TOTAL, wechat_remainder, 15_200, [Tender(CASH, 5_000)], asked_cents=10_000)
    assert error.details == {"payable_cents": 15_200, "wechat_cents": 10_200}
    error = refused(NOTHING_LEFT_TO_PAY, wechat_remainder, 15_200, [Tender(CASH, 15_200)])
    assert error.details == {"payable_cents": 15_200}
    refused(NOTHING_LEFT_TO_PAY, wechat_remainder, 0, [])
    refused(ONE_WECHAT_TENDER, wechat_remainder, 15_200, [Tender(WECHAT, 100)])


def test_exactly_one_wechat_tender_is_found():
    tender = Tender(WECHAT, 100)
    assert wechat_tender([Tender(CASH, 5), tender]) is tender
    refused(ONE_WECHAT_TENDER, wechat_tender, [Tender(CASH, 5)])
    refused(ONE_WECHAT_TENDER, wechat_tender, [tender, Tender(WECHAT, 5)])


def test_a_tender_reads_back_what_it_wrote():
    assert Tender(SV, 300).to_dict() == {"type": "stored_value", "amount_cents": 300}
    assert Tender.from_dict({"type": "wechat", "amount_cents": 1}) == Tender(WECHAT, 1)


def test_a_refund_goes_back_over_the_tenders_in_proportion():
    assert plan_refund(12_800, {CASH: 12_800, WECHAT: 12_800}) == {CASH: 6_400, WECHAT: 6_400}
    assert plan_refund(1, {CASH: 1, WECHAT: 1}) == {CASH: 1, WECHAT: 0}  # ties to the earlier type
    assert plan_refund(0, {CASH: 0, SV: 0}) == {CASH: 0, SV: 0}
    assert plan_refund(300, {SV: 300, CASH: 0}) == {CASH: 0, SV: 300}
    error = refused(REFUND_EXCEEDS_PAID, plan_refund, 301, {SV: 300})
    assert error.details == {"refund_cents": 301, "refundable_cents": 300}
