"""Equal shares of a bill: they add up to the payable exactly, and differ by at most one fen."""

import pytest

from tablerules import split


@pytest.mark.parametrize("payable", [2, 3, 99, 100, 101, 12_800, 14_000, 9_999_999])
@pytest.mark.parametrize("count", [2, 3, 4, 7, 20])
def test_equal_shares_add_up_to_the_payable_exactly(payable, count):
    if payable < count:
        with pytest.raises(split.SplitError):
            split.equal_shares(payable, count)
        return
    shares = split.equal_shares(payable, count)
    assert len(shares) == count and sum(shares) == payable
    assert max(shares) - min(shares) <= 1 and shares == sorted(shares, reverse=True)


def test_the_largest_remainder_goes_to_the_first_shares():
    assert split.equal_shares(14_000, 3) == [4667, 4667, 4666]
    assert split.equal_shares(100, 3) == [34, 33, 33]


@pytest.mark.parametrize("count", [0, 1, 21, -2])
def test_a_bill_is_split_into_two_to_twenty_shares(count):
    with pytest.raises(split.SplitError):
        split.equal_shares(10_000, count)


def test_the_rest_and_cover():
    shares = [(4667, True), (4667, False), (4666, False)]
    assert split.rest_cents(shares) == 9333
    assert not split.is_covered(14_000, [4667])
    assert split.is_covered(14_000, [4667, 4667, 4666])


def test_a_changed_bill_is_shared_again_between_the_open_shares():
    assert split.reshare(15_000, [4667], 2) == [5167, 5166]  # 140.00 → 150.00 after one share paid
    assert split.reshare(15_000, [4667, 4667], 1) == [5666]
    with pytest.raises(split.SplitError):
        split.reshare(9_000, [4667, 4667], 1)  # a dish taken off: the paid shares cover it already
