"""The dynamic member code shown on the diner's phone and scanned at the till.

Format: 18 ASCII digits, ``'88' + member_no (10 digits) + mac (6 digits)``. The mac is a TOTP
style truncation (RFC 4226 dynamic truncation, mod 10**6) of
``HMAC-SHA256(secret, member_no as ASCII + step as 8-byte big-endian)``, where
``step = floor(unix time / period)``. A code is accepted while the till's step is within
``window`` steps of the code's step. Using a (member_no, step) only once per settlement is the
service's job: it records the pairs it has accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

PREFIX = "88"
MAC_DIGITS = 6
# For this many steps before the window, a correct mac is answered "expired" rather than
# "bad_mac" (the cashier should ask the diner to refresh, not suspect a forgery).
EXPIRED_LOOKBACK_STEPS = 30

_MEMBER_NO_RE = re.compile(r"[0-9]{10}")
_CODE_RE = re.compile(rf"{PREFIX}([0-9]{{10}})([0-9]{{{MAC_DIGITS}}})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MemberCodeReason(StrEnum):
    MALFORMED = "malformed"  # not 18 digits starting with 88
    EXPIRED = "expired"  # a real code, but too old
    BAD_MAC = "bad_mac"  # not a code this secret produced for this member near now


class MemberCodeError(ValueError):
    code = "member_code_invalid"

    def __init__(self, reason: MemberCodeReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class MemberCodeMatch(NamedTuple):
    member_no: str
    step: int


def _mac(secret: bytes, member_no: str, step: int) -> str:
    digest = hmac.new(secret, member_no.encode("ascii") + step.to_bytes(8, "big"), hashlib.sha256).digest()
    offset = digest[-1] & 0x0F
    value = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFF_FFFF
    return f"{value % 10**MAC_DIGITS:0{MAC_DIGITS}d}"


def member_code(secret: bytes, member_no: str, step: int) -> str:
    """The 18-digit code of ``member_no`` for time step ``step``."""
    if not secret:
        raise ValueError("secret must not be empty")
    if not isinstance(member_no, str) or not _MEMBER_NO_RE.fullmatch(member_no):
        raise ValueError("member_no must be exactly 10 ASCII digits")
    if not 0 <= step < 2**64:
        raise ValueError("step out of range")
    return PREFIX + member_no + _mac(secret, member_no, step)


def code_step(now: datetime, period: int = 60) -> int:
    """The time step of ``now``: whole periods since the Unix epoch."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if period <= 0:
        raise ValueError("period must be > 0")
    return (now - _EPOCH) // timedelta(seconds=period)


def member_code_at(secret: bytes, member_no: str, now: datetime, period: int = 60) -> str:
    """The code to show at ``now``."""
    return member_code(secret, member_no, code_step(now, period))


def parse_member_code(code: str) -> str:
    """The member number a scanned code names, before any check of its mac.

    Lets the service find the member's secret before calling ``verify_member_code``.
    Surrounding whitespace (a scanner's line ending) is ignored.
    """
    match = _CODE_RE.fullmatch(code.strip()) if isinstance(code, str) else None
    if match is None:
        raise MemberCodeError(MemberCodeReason.MALFORMED, "a member code is 18 digits starting with 88")
    return match.group(1)


def verify_member_code(
    secret: bytes, code: str, now: datetime, period: int = 60, window: int = 1
) -> MemberCodeMatch:
    """The (member_no, step) a scanned code proves, or MemberCodeError with its reason.

    Accepts steps ``code_step(now) - window`` to ``+ window``; when two steps match (a one in a
    million coincidence) the one nearest to now wins. Every candidate is compared with
    ``hmac.compare_digest`` and all of them are computed, so timing does not reveal which matched.
    """
    if not secret:
        raise ValueError("secret must not be empty")
    if window < 0:
        raise ValueError("window must be >= 0")
    member_no = parse_member_code(code)
    mac = code.strip()[-MAC_DIGITS:]
    current = code_step(now, period)
    nearest_first = [current + d for k in range(window + 1) for d in dict.fromkeys((-k, k))]
    matched = None
    for step in nearest_first:
        if step >= 0 and hmac.compare_digest(_mac(secret, member_no, step), mac) and matched is None:
            matched = step
    if matched is not None:
        return MemberCodeMatch(member_no, matched)
    oldest = current - window - EXPIRED_LOOKBACK_STEPS
    for step in range(max(oldest, 0), max(current - window, 0)):
        if hmac.compare_digest(_mac(secret, member_no, step), mac):
            raise MemberCodeError(MemberCodeReason.EXPIRED, "the member code has expired, refresh it")
    raise MemberCodeError(MemberCodeReason.BAD_MAC, "the member code is not valid")
