"""What a scanned or swiped string is, judged by its shape alone (pure).

The prefixes are the ones the payment networks publish for their user payment codes; the
member code is TableLoop's own dynamic code shown on the member card page.
"""

from __future__ import annotations

import re
from typing import Literal

CodeKind = Literal["wechat_pay", "alipay", "member_code", "coupon", "dish_barcode", "card", "unknown"]

_WECHAT = re.compile(r"1[0-5]\d{16}")  # 18 digits starting 10–15
_ALIPAY = re.compile(r"(2[5-9]|30)\d{14,22}")  # 16–24 digits starting 25–30
_MEMBER = re.compile(r"88\d{16}")  # 18 digits starting 88
_COUPON = re.compile(r"CP[0-9A-Z]{4,32}")
_EAN = re.compile(r"\d{8}|\d{13}")


def classify(code: str) -> CodeKind:
    """Classify a scanner read: payment code, member code, coupon, dish barcode or unknown."""
    text = code.strip()
    if _MEMBER.fullmatch(text):
        return "member_code"
    if _WECHAT.fullmatch(text):
        return "wechat_pay"
    if _ALIPAY.fullmatch(text):
        return "alipay"
    if _COUPON.fullmatch(text.upper()):
        return "coupon"
    if _EAN.fullmatch(text) and ean_check_digit_ok(text):
        return "dish_barcode"
    return "unknown"


def normalise(code: str, kind: CodeKind) -> str:
    """The form the server expects: coupons upper-case, everything else as read."""
    text = code.strip()
    return text.upper() if kind == "coupon" else text


def ean_check_digit_ok(digits: str) -> bool:
    """EAN-8 / EAN-13 check digit: weights 3 and 1 alternate from the right, excluding the check."""
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check
