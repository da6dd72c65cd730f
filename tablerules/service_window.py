"""Customer-service messages: when staff may still answer a follower, and keyword auto-replies.

WeChat accepts a customer-service message (客服消息) to a follower only within 48 hours of the
follower's last message to the account; after that the API refuses it (errcode 45015) and the
inbox says so instead of offering a reply box. The window is counted from the follower's
*latest* message: writing again reopens it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

REPLY_WINDOW = timedelta(hours=48)


def reply_deadline(last_inbound_at: datetime | None) -> datetime | None:
    """The last moment a customer-service message can reach the follower (None: never wrote)."""
    return None if last_inbound_at is None else last_inbound_at + REPLY_WINDOW


def can_reply(last_inbound_at: datetime | None, now: datetime) -> bool:
    """True while `now` is within 48 hours of the follower's last message."""
    deadline = reply_deadline(last_inbound_at)
    return deadline is not None and now <= deadline


@dataclass(frozen=True)
class KeywordRule:
    keyword: str
    reply: str


def normalise(text: str) -> str:
    """Case and surrounding blanks do not matter; full-width spaces count as blanks."""
    return text.replace("\u3000", " ").strip().casefold()


def auto_reply(text: str, rules: Iterable[KeywordRule]) -> str | None:
    """The reply of the first rule whose keyword the message contains (longest keyword first, so
    "充值活动" wins over "充值"), or None when no keyword is in it."""
    said = normalise(text)
    if not said:
        return None
    for rule in sorted(rules, key=lambda r: (-len(normalise(r.keyword)), normalise(r.keyword))):
        keyword = normalise(rule.keyword)
        if keyword and keyword in said:
            return rule.reply
    return None
