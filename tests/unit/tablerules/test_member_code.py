"""The dynamic member code: format, time steps and verification at the till."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tablerules.members import (
    CHINA_TZ,
    MemberCodeError,
    MemberCodeReason,
    code_step,
    member_code,
    member_code_at,
    parse_member_code,
    verify_member_code,
)

SECRET = b"tableloop-demo-secret"
MEMBER_NO = "1234567890"
NOW = datetime(2024, 1, 1, tzinfo=UTC)  # step 28401120 at 60 s
STEP = 28401120


def reason_of(code: str, now: datetime = NOW, **kwargs) -> MemberCodeReason:
    with pytest.raises(MemberCodeError) as info:
        verify_member_code(SECRET, code, now, **kwargs)
    return info.value.reason


class TestFormat:
    def test_known_vectors(self):
        assert member_code(SECRET, "0000012345", 0) == "880000012345134622"
        assert member_code(SECRET, MEMBER_NO, STEP) == "881234567890942291"

    def test_mac_is_rfc4226_truncation_of_hmac_sha256(self):
        digest = hmac.new(SECRET, MEMBER_NO.encode() + STEP.to_bytes(8, "big"), hashlib.sha256).digest()
        offset = digest[-1] & 0x0F
        expected = (int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF) % 1_000_000
        assert member_code(SECRET, MEMBER_NO, STEP) == f"88{MEMBER_NO}{expected:06d}"

    def test_shape(self):
        code = member_code(SECRET, MEMBER_NO, STEP)
        assert len(code) == 18 and code.isdigit() and code.startswith("88" + MEMBER_NO)

    def test_code_changes_with_step_secret_and_member(self):
        code = member_code(SECRET, MEMBER_NO, STEP)
        assert code != member_code(SECRET, MEMBER_NO, STEP + 1)
        assert code != member_code(b"other-merchant", MEMBER_NO, STEP)
        assert code[12:] != member_code(SECRET, "1234567891", STEP)[12:]

    @pytest.mark.parametrize(
        ("secret", "member_no", "step"),
        [
            (b"", MEMBER_NO, STEP),
            (SECRET, "123456789", STEP),  # 9 digits
            (SECRET, "12345678901", STEP),
            (SECRET, "12345abcde", STEP),
            (SECRET, "１２３４５６７８９０", STEP),  # full-width digits
            (SECRET, MEMBER_NO, -1),
            (SECRET, MEMBER_NO, 2**64),
        ],
    )
    def test_bad_input_is_refused(self, secret, member_no, step):
        with pytest.raises(ValueError):
            member_code(secret, member_no, step)


class TestSteps:
    def test_step_is_whole_periods_since_the_epoch(self):
        assert code_step(NOW) == STEP
        assert code_step(NOW + timedelta(seconds=59, microseconds=999999)) == STEP
        assert code_step(NOW + timedelta(seconds=60)) == STEP + 1
        assert code_step(NOW, period=30) == 2 * STEP

    def test_any_time_zone_gives_the_same_step(self):
        assert code_step(NOW.astimezone(CHINA_TZ)) == STEP

    def test_bad_input_is_refused(self):
        with pytest.raises(ValueError):
            code_step(datetime(2024, 1, 1))
        with pytest.raises(ValueError):
            code_step(NOW, period=0)

    def test_code_at(self):
        shown = member_code_at(SECRET, MEMBER_NO, NOW + timedelta(seconds=30))
        assert shown == member_code(SECRET, MEMBER_NO, STEP)


class TestVerify:
    CODE = member_code(SECRET, MEMBER_NO, STEP)

    @pytest.mark.parametrize("seconds", [0, 59, -1, -60, 60, 119])
    def test_accepted_within_one_step(self, seconds):
        match = verify_member_code(SECRET, self.CODE, NOW + timedelta(seconds=seconds))
        assert match == (MEMBER_NO, STEP)
        assert match.member_no == MEMBER_NO and match.step == STEP

    def test_too_old_is_expired(self):
        assert reason_of(self.CODE, NOW + timedelta(seconds=120)) is MemberCodeReason.EXPIRED
        assert reason_of(self.CODE, NOW + timedelta(minutes=31, seconds=59)) is MemberCodeReason.EXPIRED

    def test_far_too_old_or_from_the_future_is_bad_mac(self):
        assert reason_of(self.CODE, NOW + timedelta(minutes=32)) is MemberCodeReason.BAD_MAC
        assert reason_of(self.CODE, NOW - timedelta(seconds=61)) is MemberCodeReason.BAD_MAC

    def test_window_zero(self):
        assert verify_member_code(SECRET, self.CODE, NOW, window=0).step == STEP
        assert reason_of(self.CODE, NOW + timedelta(seconds=60), window=0) is MemberCodeReason.EXPIRED

    def test_wrong_secret_or_tampered_digits(self):
        with pytest.raises(MemberCodeError) as info:
            verify_member_code(b"other-merchant", self.CODE, NOW)
        assert info.value.reason is MemberCodeReason.BAD_MAC
        assert info.value.code == "member_code_invalid"
        tampered_member = self.CODE[:11] + str((int(self.CODE[11]) + 1) % 10) + self.CODE[12:]
        assert reason_of(tampered_member) is MemberCodeReason.BAD_MAC
        tampered_mac = self.CODE[:-1] + str((int(self.CODE[-1]) + 1) % 10)
        assert reason_of(tampered_mac) is MemberCodeReason.BAD_MAC

    @pytest.mark.parametrize(
        "code",
        [
            "",
            "88123456789094229",  # 17 digits
            "8812345678909422911",  # 19 digits
            "871234567890942291",  # wrong prefix
            "88123456789O942291",  # letter O
            "８８１２３４５６７８９０９４２２９１",  # full-width digits
            "88 1234567890 942291",
            None,
            881234567890942291,
        ],
    )
    def test_malformed(self, code):
        assert reason_of(code) is MemberCodeReason.MALFORMED

    def test_scanner_line_ending_is_ignored(self):
        assert verify_member_code(SECRET, self.CODE + "\r\n", NOW).member_no == MEMBER_NO
        assert parse_member_code(" " + self.CODE + "\n") == MEMBER_NO

    def test_bad_arguments_are_refused(self):
        with pytest.raises(ValueError):
            verify_member_code(b"", self.CODE, NOW)
        with pytest.raises(ValueError):
            verify_member_code(SECRET, self.CODE, NOW, window=-1)

    def test_near_the_epoch(self):
        code = member_code(SECRET, MEMBER_NO, 0)
        assert verify_member_code(SECRET, code, datetime(1970, 1, 1, 0, 0, 30, tzinfo=UTC)).step == 0


@given(
    secret=st.binary(min_size=1, max_size=64),
    member_no=st.text("0123456789", min_size=10, max_size=10),
    made_at=st.integers(0, 4 * 10**9),
    offset=st.integers(-300, 300),
)
def test_round_trip_inside_the_window_only(secret, member_no, made_at, offset):
    made = datetime.fromtimestamp(made_at, UTC)
    step = code_step(made)
    code = member_code(secret, member_no, step)
    scanned_at = made + timedelta(seconds=offset)
    distance = code_step(scanned_at) - step
    if abs(distance) <= 1:
        assert verify_member_code(secret, code, scanned_at) == (member_no, step)
        return
    try:
        match = verify_member_code(secret, code, scanned_at)
    except MemberCodeError as error:
        assert error.reason in (MemberCodeReason.EXPIRED, MemberCodeReason.BAD_MAC)
    else:
        # Only a one-in-a-million coincidence of two steps' macs can accept it.
        assert abs(match.step - code_step(scanned_at)) <= 1
        assert member_code(secret, member_no, match.step) == code
