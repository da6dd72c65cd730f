"""Test payment codes: what the simulator's ``/pay/micropay`` does with an ``auth_code``.

A WeChat payment code is 18 digits starting 10–15. The simulator reads the last four digits;
any other ending simply succeeds, so any realistic code works in the demo.

=========  ==========================================================================
ending     outcome
=========  ==========================================================================
``0001``   paid at once (``result_code`` SUCCESS)
``0002``   refused: ``NOTENOUGH`` (余额不足, balance too low); order state PAYERROR
``0003``   ``USERPAYING``; becomes SUCCESS after N order queries or T seconds
``0004``   ``USERPAYING`` and never completes: the till must time out and reverse
``0005``   refused: ``AUTHCODEEXPIRE`` (code expired); order state PAYERROR
``0006``   ``USERPAYING``; becomes PAYERROR (the diner cancelled) after N queries / T s
``0007``   answers ``SYSTEMERROR`` although the payment went through: query to learn it
=========  ==========================================================================

Anything that is not 18 digits starting 10–15 gets ``AUTH_CODE_INVALID``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

AUTH_CODE = re.compile(r"1[0-5]\d{16}")

AUTH_CODE_INVALID = ("AUTH_CODE_INVALID", "请扫描微信支付授权码(以10/11/12/13/14/15为前缀的18位数字)")


@dataclass(frozen=True)
class CodeOutcome:
    ending: str
    label: str
    answer: str  # success | fail | userpaying | systemerror
    err_code: str | None = None
    err_code_des: str | None = None
    settles_to: str | None = None  # for USERPAYING: SUCCESS, PAYERROR or None (never)


SUCCESS = CodeOutcome("0001", "立即成功 paid at once", "success")

OUTCOMES: dict[str, CodeOutcome] = {
    o.ending: o
    for o in (
        SUCCESS,
        CodeOutcome("0002", "余额不足 balance too low", "fail", "NOTENOUGH", "余额不足"),
        CodeOutcome(
            "0003", "输密码后成功 password, then paid", "userpaying", "USERPAYING", "需要用户输入支付密码", "SUCCESS"
        ),
        CodeOutcome("0004", "一直输密码 never completes", "userpaying", "USERPAYING", "需要用户输入支付密码"),
        CodeOutcome(
            "0005", "付款码过期 code expired", "fail", "AUTHCODEEXPIRE", "二维码已过期，请用户在微信上刷新后再试"
        ),
        CodeOutcome("0006", "用户取消 diner cancels", "userpaying", "USERPAYING", "需要用户输入支付密码", "PAYERROR"),
        CodeOutcome("0007", "系统错误但已扣款 SYSTEMERROR, yet paid", "systemerror", "SYSTEMERROR", "系统超时"),
    )
}


def outcome_for(auth_code: str) -> CodeOutcome | None:
    """``None`` for a code that is not a WeChat payment code at all."""
    if not AUTH_CODE.fullmatch(auth_code or ""):
        return None
    return OUTCOMES.get(auth_code[-4:], SUCCESS)


def new_code(ending: str = "0001") -> str:
    """A fresh code with the given outcome, as a diner's phone would show it."""
    if ending not in OUTCOMES:
        raise ValueError(f"unknown payment-code ending {ending!r}")
    return "13" + "".join(secrets.choice("0123456789") for _ in range(12)) + ending
