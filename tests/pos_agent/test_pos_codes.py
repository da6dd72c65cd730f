import pytest

from pos_agent.codes import classify, ean_check_digit_ok, normalise


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("134567890123456789", "wechat_pay"),  # 18 digits, 10-15
        ("104567890123456789", "wechat_pay"),
        ("164567890123456789", "unknown"),  # 16 is not a WeChat prefix
        ("2812345678901234", "alipay"),  # 16 digits, 25-30
        ("301234567890123456789012", "alipay"),  # 24 digits
        ("3012345678901234567890123", "unknown"),  # 25 digits: too long
        ("2412345678901234", "unknown"),  # 24 is not an Alipay prefix
        ("881234567890123456", "member_code"),  # 18 digits starting 88
        ("CP7F3K9Q", "coupon"),
        ("cp7f3k9q", "coupon"),
        ("CP12", "unknown"),  # too short to be a coupon
        ("6901234567892", "dish_barcode"),  # EAN-13 with a valid check digit
        ("6901234567893", "unknown"),  # wrong check digit
        ("96385074", "dish_barcode"),  # EAN-8
        ("96385075", "unknown"),
        ("hello", "unknown"),
        ("", "unknown"),
        (" 134567890123456789 ", "wechat_pay"),
    ],
)
def test_classify(code, kind):
    assert classify(code) == kind


def test_ean_check_digit():
    assert ean_check_digit_ok("4006381333931")
    assert not ean_check_digit_ok("4006381333932")


def test_normalise_upper_cases_coupons_only():
    assert normalise(" cp7f3k9q ", "coupon") == "CP7F3K9Q"
    assert normalise("134567890123456789", "wechat_pay") == "134567890123456789"
