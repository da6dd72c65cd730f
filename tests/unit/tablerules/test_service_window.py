"""WeChat's 48-hour customer-service window and keyword auto-replies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tablerules.service_window import KeywordRule, auto_reply, can_reply, reply_deadline

WROTE = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_staff_can_answer_until_48_hours_after_the_last_message():
    assert can_reply(WROTE, WROTE)
    assert can_reply(WROTE, WROTE + timedelta(hours=47, minutes=59))
    assert can_reply(WROTE, WROTE + timedelta(hours=48))
    assert not can_reply(WROTE, WROTE + timedelta(hours=48, seconds=1))
    assert reply_deadline(WROTE) == WROTE + timedelta(hours=48)


def test_nobody_who_never_wrote_can_be_answered():
    assert not can_reply(None, WROTE)
    assert reply_deadline(None) is None


RULES = [KeywordRule("菜单", "menu"), KeywordRule("充值", "top up"), KeywordRule("充值活动", "top-up offer"),
         KeywordRule("WiFi", "wifi")]


def test_a_message_containing_a_keyword_gets_its_reply():
    assert auto_reply("你好，想看看菜单", RULES) == "menu"
    assert auto_reply("  wifi密码？", RULES) == "wifi"  # case does not matter


def test_the_longest_keyword_wins():
    assert auto_reply("有什么充值活动吗", RULES) == "top-up offer"
    assert auto_reply("我要充值", RULES) == "top up"


def test_no_keyword_no_reply():
    assert auto_reply("我想订位", RULES) is None
    assert auto_reply("   ", RULES) is None
    assert auto_reply("菜单", []) is None
