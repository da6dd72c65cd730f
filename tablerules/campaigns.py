"""Campaign rules: statuses, the hold-out group, quiet hours, the funnel and its ROI.

- **Statuses** move only along `TRANSITIONS` (`transition()`): a one-off campaign is a draft,
  then scheduled (or straight to sending), sending, sent; a draft or a scheduled campaign can be
  cancelled. An automation (birthday, win-back) is active or paused; each period's send is a
  one-off campaign of its own.
- **Hold-out**: `is_held_out(seed, member_id, percent)` picks a member into the hold-out group
  (gets nothing, measured the same way) from a hash of the campaign's seed and the member id, so
  the choice is random-like, the same every time it is asked, and needs no stored state.
- **Quiet hours**: `release_at(now, quiet)` is when a message asked for at `now` may go out:
  `now` outside the quiet hours, else the moment they end (local time, fixed UTC offset).
- **Funnel**: sent → opened → visited → paid, revenue and coupon cost; `roi_permille()` is
  (revenue the campaign added − coupon cost) / coupon cost, where the added revenue is what the
  sent group paid less what it would have paid at the hold-out group's rate per member.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime, time, timedelta

MAX_HOLDOUT_PERCENT = 50
LOCAL_OFFSET = timedelta(hours=8)  # Asia/Shanghai, no daylight saving


class Status(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"
    ACTIVE = "active"  # an automation that runs
    PAUSED = "paused"  # an automation that waits


class Event(enum.StrEnum):
    SCHEDULE = "schedule"
    START = "start"
    FINISH = "finish"
    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"


TRANSITIONS: dict[tuple[Status, Event], Status] = {
    (Status.DRAFT, Event.SCHEDULE): Status.SCHEDULED,
    (Status.DRAFT, Event.START): Status.SENDING,
    (Status.SCHEDULED, Event.START): Status.SENDING,
    (Status.SENDING, Event.FINISH): Status.SENT,
    (Status.DRAFT, Event.CANCEL): Status.CANCELLED,
    (Status.SCHEDULED, Event.CANCEL): Status.CANCELLED,
    (Status.ACTIVE, Event.PAUSE): Status.PAUSED,
    (Status.PAUSED, Event.RESUME): Status.ACTIVE,
}


class IllegalTransition(ValueError):
    pass


def transition(status: Status | str, event: Event | str) -> Status:
    try:
        return TRANSITIONS[(Status(status), Event(event))]
    except (KeyError, ValueError):
        raise IllegalTransition(f"{status} cannot {event}") from None


# --- the hold-out group ----------------------------------------------------------------------

def is_held_out(seed: str, member_id: int, percent: int) -> bool:
    """Whether the member belongs to the hold-out share `percent` (0–50) of the campaign `seed`."""
    if percent <= 0:
        return False
    digest = hashlib.sha256(f"{seed}:{member_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < percent * 100


# --- quiet hours -------------------------------------------------------------------------------

@dataclass(frozen=True)
class QuietHours:
    """Local times; `start` after `end` spans midnight (22:00–08:00)."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("quiet hours must not start and end at the same time")

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def release_at(now: datetime, quiet: QuietHours | None, offset: timedelta = LOCAL_OFFSET) -> datetime:
    """When a message asked for at `now` (aware) may be sent: `now`, or the end of the quiet hours
    it falls in."""
    if quiet is None:
        return now
    local = now + offset
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return now
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end - offset


# --- the funnel ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class GroupFigures:
    members: int = 0
    visited: int = 0  # members with an order opened after the send
    paid: int = 0  # members with a paid (kept) order after the send
    revenue_cents: int = 0  # what those orders kept

    @property
    def paid_rate_permille(self) -> int:
        return _permille(self.paid, self.members)

    @property
    def revenue_per_member_cents(self) -> int:
        return self.revenue_cents // self.members if self.members else 0


def _permille(part: int, whole: int) -> int:
    return (2 * 1000 * part + whole) // (2 * whole) if whole else 0


@dataclass(frozen=True)
class Funnel:
    sent: GroupFigures
    opened: int
    coupons_issued: int
    coupons_redeemed: int
    coupon_cost_cents: int
    holdout: GroupFigures | None  # None: no hold-out group

    @property
    def open_rate_permille(self) -> int:
        return _permille(self.opened, self.sent.members)

    @property
    def incremental_revenue_cents(self) -> int:
        """What the sent group paid beyond the hold-out group's rate per member (all of it without one)."""
        if self.holdout is None or not self.holdout.members:
            return self.sent.revenue_cents
        expected = self.holdout.revenue_cents * self.sent.members // self.holdout.members
        return self.sent.revenue_cents - expected

    @property
    def roi_permille(self) -> int | None:
        """(added revenue − coupon cost) / coupon cost, in permille; None without a cost."""
        if not self.coupon_cost_cents:
            return None
        return (self.incremental_revenue_cents - self.coupon_cost_cents) * 1000 // self.coupon_cost_cents

    @property
    def uplift_permille(self) -> int | None:
        """Paid rate of the sent group less the hold-out's (permille points)."""
        if self.holdout is None or not self.holdout.members:
            return None
        return self.sent.paid_rate_permille - self.holdout.paid_rate_permille
