"""Domain events: a domain says what happened; the channels that care subscribe.

Orders, members, coupons and tables never call a channel (WeChat, a payment provider). In the
transaction that changes state they `publish()` a domain event; publishing puts one outbox
message per subscriber of that kind beside the change, so a rolled-back change tells no one and
a committed one is delivered after commit by the outbox worker, each subscriber on its own
(one failing and retrying never repeats another's delivery).

The dispatch table is filled explicitly at app start (`app.events.subscriptions.register_all`),
never as a side effect of importing a module.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime

from app.outbox import service as outbox
from app.outbox.models import OutboxMessage


class DomainEvent(enum.StrEnum):
    ORDER_PAID = "order_paid"  # {order_id, payer_openid?}
    ORDER_REFUNDED = "order_refunded"  # {order_id, refunded_cents}: a member's bill, refunded in whole or part
    # one per diner: {order_id, openid, payable_cents (theirs), items [[name, qty]], url, pushed_at}
    BILL_PUSHED = "bill_pushed"
    # reason: "topup" | "adjust" (with the manager's note)
    STORED_VALUE_CHANGED = "stored_value_changed"  # {member_id, delta_cents, balance_cents, reason, note, ref}
    POINTS_CHANGED = "points_changed"  # {member_id, delta, balance, reason, note, ref}
    COUPON_RECEIVED = "coupon_received"  # {member_id, coupon_id}
    CAMPAIGN_MESSAGE = "campaign_message"  # {campaign_id, member_id, delivery_id}: a campaign's message
    REFUND_REQUESTED = "refund_requested"  # {refund_id}: money to send back through a provider


Subscriber = Callable[[OutboxMessage], None]

# kind -> the outbox kinds of its subscribers, in registration order
_DISPATCH: dict[DomainEvent, list[str]] = {}


def subscribe(kind: DomainEvent, name: str, deliver: Subscriber) -> None:
    """Call `deliver` (after commit, from the outbox) for every `kind` event. `name` is the
    subscriber's outbox kind, e.g. "wechat.paid.member"; registering it twice is a mistake."""
    names = _DISPATCH.setdefault(DomainEvent(kind), [])
    if name in names:
        raise ValueError(f"{name} already subscribes to {kind}")
    outbox.register(name, deliver)
    names.append(name)


def subscribers(kind: DomainEvent) -> tuple[str, ...]:
    return tuple(_DISPATCH.get(DomainEvent(kind), ()))


def reset() -> None:
    """Forget every subscription (app start registers them again)."""
    for names in _DISPATCH.values():
        for name in names:
            outbox.unregister(name)
    _DISPATCH.clear()


def publish(merchant_id: int, kind: DomainEvent, key: str, payload: dict, *, now: datetime) -> int:
    """Record that `kind` happened, in the caller's transaction (one statement, whatever the number
    of subscribers). `key` names this occurrence (e.g. the order id): the same event published
    twice reaches each subscriber once. Answers how many subscriber messages were queued."""
    body = {"event": str(kind), **payload}
    return outbox.enqueue_many(merchant_id, [(name, f"{name}:{key}", body) for name in subscribers(kind)], now=now)


def publish_many(merchant_id: int, kind: DomainEvent, events: list[tuple[str, dict]], *, now: datetime) -> int:
    """`publish` for many occurrences of one kind, (key, payload) each, in one statement."""
    names = subscribers(kind)
    return outbox.enqueue_many(merchant_id, [(name, f"{name}:{key}", {"event": str(kind), **payload})
                                             for key, payload in events for name in names], now=now)
