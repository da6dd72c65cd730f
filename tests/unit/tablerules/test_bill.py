"""The bill as charged: the JSON kept on the order reads back to the same value, and line refunds
add up to exactly what the line cost."""

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tablerules.bill import ChargedBill, EarnTerms, MemberSnapshot, line_refund_cents
from tablerules.points import PointsEarnRule
from tablerules.pricing import BillLine, PointsRedeemRule, Rounding, TierDiscount, price_bill
from tablerules.stored_value import StoredValueSplit
from tablerules.tenders import Tender, TenderType

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def priced(points: int = 0):
    lines = [BillLine(1, 11, 1, "剁椒鱼头", 12_800, 1), BillLine(2, 12, 2, "青岛啤酒", 1_200, 3, is_discountable=False)]
    return price_bill(lines, tier=TierDiscount("金卡", 12), coupons=[], member_id=7, points_to_redeem=points,
                      points_balance=1_000, points_rule=PointsRedeemRule(1, 50), rounding=Rounding.TO_JIAO, now=NOW)


def charged(points: int = 0) -> ChargedBill:
    bill = priced(points)
    return ChargedBill(
        priced=bill,
        tenders=(Tender(TenderType.STORED_VALUE, 10_000), Tender(TenderType.CASH, bill.payable_cents)),
        change_cents=10_000,
        stored_value_split=StoredValueSplit(8_333, 1_667),
        points_earned=145,
        earn=EarnTerms(PointsEarnRule(1, frozenset({"cash", "wechat", "stored_value"})), 100),
        member=MemberSnapshot(7, "M0007", "王小明", "金卡", 1_145, 90_000),
    )


def test_the_json_is_the_priced_bill_with_what_the_settlement_took():
    bill = charged(points=200)
    data = bill.to_dict()
    assert {k: data[k] for k in bill.priced.to_dict()} == bill.priced.to_dict()
    assert data["tenders"] == [{"type": "stored_value", "amount_cents": 10_000},
                               {"type": "cash", "amount_cents": bill.payable_cents}]
    assert data["stored_value_split"] == {"principal_cents": 8_333, "bonus_cents": 1_667}
    assert data["earn"] == {"points_per_yuan": 1, "earning_tenders": ["cash", "stored_value", "wechat"],
                            "multiplier_percent": 100}
    assert data["member"]["member_no"] == "M0007" and data["points_earned"] == 145
    assert data["change_cents"] == 10_000


def test_it_reads_back_to_the_same_value():
    for bill in (charged(), charged(points=300)):
        assert ChargedBill.from_dict(bill.to_dict()) == bill
        assert ChargedBill.from_dict(bill.to_dict()).to_dict() == bill.to_dict()


def test_a_bill_without_a_member_has_no_split_terms_or_snapshot():
    bill = ChargedBill(priced(), (Tender(TenderType.CASH, 20_000),), 0, None, 0, None, None)
    data = bill.to_dict()
    assert data["stored_value_split"] is None and data["earn"] is None and data["member"] is None
    assert ChargedBill.from_dict(data) == bill


def test_allocations_are_found_by_line():
    bill = charged()
    assert bill.allocation(2).gross_cents == 3_600
    assert sum(bill.allocation(i).net_cents for i in (1, 2)) == bill.payable_cents
    with pytest.raises(KeyError):
        bill.allocation(3)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 1_000_000), st.integers(1, 20), st.data())
def test_refunding_a_line_bit_by_bit_adds_up_to_its_net_amount(net, qty, data):
    refunded, total = 0, 0
    while refunded < qty:
        step = data.draw(st.integers(1, qty - refunded))
        cents = line_refund_cents(net, qty, refunded, step)
        assert 0 <= cents <= net
        total += cents
        refunded += step
    assert total == net


def test_more_than_is_left_of_a_line_cannot_be_refunded():
    with pytest.raises(ValueError):
        line_refund_cents(1_000, 2, 1, 2)
    with pytest.raises(ValueError):
        line_refund_cents(1_000, 2, 0, -1)
