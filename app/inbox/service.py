"""The customer-service inbox: a follower's message arrives (from the WeChat callback), staff
read it in their store's inbox, answer within WeChat's 48-hour window, hand the conversation to
a colleague; keyword auto-replies answer at once.

Staff replies are never sent from here: `reply` records the message and queues one outbox row
(kind CS_TEXT) in the same transaction; the WeChat channel sends it after commit
(`app.wechat.service_messages`). Whether it went out is the outbox row's state.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext

from app.actor import Actor
from app.auth.models import Staff
from app.auth.permissions import Permission, role_allows
from app.crm import service as crm
from app.db import db, get_scoped_or_404, insert_unique
from app.errors import Conflict, NotFound, Unprocessable
from app.events import service as events
from app.events.models import EventKind
from app.inbox.models import CannedReply, Conversation, Direction, KeywordReply, MessageKind, ServiceMessage
from app.members.models import Member, MemberVisit
from app.outbox import service as outbox
from app.outbox.models import OutboxMessage, OutboxStatus
from app.tenants.models import Store
from tablerules import service_window as window

CS_TEXT = "inbox.cs_text"  # outbox kind: a staff reply to send as a customer-service text message
MAX_TEXT = 600
PREVIEW = 40


def _preview(message: ServiceMessage) -> str:
    if message.kind is MessageKind.IMAGE:
        return "[图片]"
    text = " ".join(message.text.split())
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


def outbox_key(message_id: int) -> str:
    return f"{CS_TEXT}:{message_id}"


# --- a follower writes ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Received:
    message: ServiceMessage
    auto_reply: str | None  # the passive reply to give WeChat, if a keyword matched


def _store_for(merchant_id: int, hint: int | None, member: Member | None) -> int | None:
    for store_id in (hint, member.source_store_id if member is not None else None):
        if store_id is not None:
            return store_id
    return db.session.scalar(sa.select(Store.id).where(Store.merchant_id == merchant_id).order_by(Store.id).limit(1))


def _conversation(merchant_id: int, openid: str, store_hint: int | None, now: datetime) -> Conversation | None:
    query = sa.select(Conversation).where(Conversation.merchant_id == merchant_id, Conversation.openid == openid)
    conversation = db.session.scalar(query.with_for_update())
    member = db.session.scalar(sa.select(Member).where(Member.merchant_id == merchant_id, Member.openid == openid))
    if conversation is None:
        store_id = _store_for(merchant_id, store_hint, member)
        if store_id is None:
            return None  # a merchant without a store has no inbox to show it in
        insert_unique(Conversation(merchant_id=merchant_id, store_id=store_id, openid=openid,
                                   member_id=member.id if member else None, last_message_at=now, created_at=now))
        conversation = db.session.scalar(query.with_for_update())
    if member is not None and conversation.member_id != member.id:
        conversation.member_id = member.id  # the follower joined since
    return conversation


def keyword_rules(merchant_id: int) -> list[KeywordReply]:
    return list(db.session.scalars(sa.select(KeywordReply).where(KeywordReply.merchant_id == merchant_id)
                                   .order_by(KeywordReply.keyword)))


def receive(merchant_id: int, openid: str, *, kind: MessageKind, text: str = "", image_url: str | None = None,
            msg_id: str | None = None, store_hint: int | None = None, now: datetime) -> Received | None:
    """Record a follower's message in the caller's transaction (WeChat's retry of the same MsgId
    is the same message) and tell the store's inbox. Answers the keyword auto-reply to give, if
    any; None when the merchant has no store to show it in."""
    conversation = _conversation(merchant_id, openid, store_hint, now)
    if conversation is None:
        return None
    message = ServiceMessage(merchant_id=merchant_id, conversation_id=conversation.id, direction=Direction.IN,
                             kind=kind, text=text[:MAX_TEXT * 4], image_url=image_url, wechat_msg_id=msg_id,
                             created_at=now)
    if msg_id and not insert_unique(message):
        existing = db.session.scalar(sa.select(ServiceMessage).where(
            ServiceMessage.merchant_id == merchant_id, ServiceMessage.wechat_msg_id == msg_id))
        return Received(existing, _auto_reply_for(merchant_id, existing))
    if not msg_id:
        db.session.add(message)
        db.session.flush()
    conversation.unread_count += 1
    conversation.last_message_at = conversation.last_inbound_at = now
    conversation.last_preview = _preview(message)
    reply = _auto_reply_for(merchant_id, message)
    if reply is not None:
        db.session.add(ServiceMessage(merchant_id=merchant_id, conversation_id=conversation.id,
                                      direction=Direction.AUTO, kind=MessageKind.TEXT, text=reply, created_at=now))
    events.append(merchant_id, conversation.store_id, EventKind.CS_MESSAGE,
                  {"conversation_id": conversation.id, "message_id": message.id,
                   "unread_count": conversation.unread_count, "auto_replied": reply is not None})
    return Received(message, reply)


def _auto_reply_for(merchant_id: int, message: ServiceMessage) -> str | None:
    if message.kind is not MessageKind.TEXT:
        return None
    rules = [window.KeywordRule(r.keyword, r.text) for r in keyword_rules(merchant_id) if r.is_active]
    return window.auto_reply(message.text, rules)


# --- staff ---------------------------------------------------------------------------------------

def get_conversation(conversation_id: int, actor: Actor) -> Conversation:
    """The conversation, if it is in a store the actor works at (404 otherwise, as another
    merchant's would be)."""
    conversation = get_scoped_or_404(Conversation, conversation_id, actor.merchant_id)
    if not actor.works_at(conversation.store_id):
        raise NotFound("conversation")
    return conversation


def conversations(store_id: int, actor: Actor, *, limit: int = 100) -> list[Conversation]:
    if not actor.works_at(store_id):
        raise NotFound("store")
    return list(db.session.scalars(sa.select(Conversation).where(
        Conversation.merchant_id == actor.merchant_id, Conversation.store_id == store_id)
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc()).limit(limit)))


def unread_total(store_id: int, merchant_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Conversation.unread_count), 0)).where(
        Conversation.merchant_id == merchant_id, Conversation.store_id == store_id)) or 0


def messages(conversation: Conversation, limit: int = 200) -> list[ServiceMessage]:
    rows = list(db.session.scalars(sa.select(ServiceMessage).where(ServiceMessage.conversation_id == conversation.id)
                                   .order_by(ServiceMessage.id.desc()).limit(limit)))
    return rows[::-1]


def delivery_states(conversation_messages: list[ServiceMessage]) -> dict[int, OutboxStatus]:
    """Each staff reply's outbox state (pending, sending, sent, failed, dead), by message id."""
    keys = {outbox_key(m.id): m.id for m in conversation_messages if m.direction is Direction.OUT}
    if not keys:
        return {}
    rows = db.session.execute(sa.select(OutboxMessage.dedupe_key, OutboxMessage.status).where(
        OutboxMessage.merchant_id == conversation_messages[0].merchant_id, OutboxMessage.dedupe_key.in_(list(keys))))
    return {keys[key]: status for key, status in rows}


def mark_read(conversation: Conversation) -> None:
    conversation.unread_count = 0


def reply(conversation_id: int, text: str, *, key: str, actor: Actor, now: datetime) -> tuple[ServiceMessage, bool]:
    """Staff answer: recorded, and queued for WeChat after commit. Refused once the 48-hour window
    has closed. The same `key` twice is one reply: answers (message, created)."""
    text = (text or "").strip()
    if not 1 <= len(text) <= MAX_TEXT:
        raise Unprocessable(gettext("A reply is 1 to %(n)s characters.", n=MAX_TEXT), error_code="bad_reply")
    if not key or len(key) > 80:
        raise Unprocessable(gettext("idempotency_key must be 1 to 80 characters."), error_code="bad_key")
    conversation = get_conversation(conversation_id, actor)
    existing = db.session.scalar(sa.select(ServiceMessage).where(
        ServiceMessage.merchant_id == actor.merchant_id, ServiceMessage.idempotency_key == key))
    if existing is not None:
        if existing.conversation_id != conversation.id or existing.text != text:
            raise Conflict(gettext("This idempotency key was used for another reply."),
                           error_code="idempotency_key_reused")
        return existing, False
    if not window.can_reply(conversation.last_inbound_at, now):
        raise Conflict(gettext("More than 48 hours have passed since the follower's last message: WeChat no "
                               "longer accepts a customer-service message. The follower has to write first."),
                       error_code="reply_window_closed")
    message = ServiceMessage(merchant_id=actor.merchant_id, conversation_id=conversation.id, direction=Direction.OUT,
                             kind=MessageKind.TEXT, text=text, idempotency_key=key, staff_id=actor.staff_id,
                             created_at=now)
    if not insert_unique(message):
        raise Conflict(gettext("This idempotency key was used for another reply."), error_code="idempotency_key_reused")
    outbox.enqueue(actor.merchant_id, CS_TEXT, outbox_key(message.id),
                   {"openid": conversation.openid, "text": text, "message_id": message.id}, now=now)
    conversation.unread_count = 0
    conversation.last_message_at = now
    conversation.last_preview = _preview(message)
    return message, True


def assign(conversation_id: int, staff_id: int | None, *, actor: Actor) -> Conversation:
    conversation = get_conversation(conversation_id, actor)
    if staff_id is not None:
        staff = get_scoped_or_404(Staff, staff_id, actor.merchant_id)
        if not staff.is_active or staff.store_id not in (None, conversation.store_id) \
                or not role_allows(staff.role, Permission.CS_INBOX):
            raise Unprocessable(gettext("This colleague does not work at the conversation's store."),
                                error_code="bad_assignee")
    conversation.assigned_staff_id = staff_id
    return conversation


def assignable_staff(store_id: int, merchant_id: int) -> list[Staff]:
    rows = db.session.scalars(sa.select(Staff).where(Staff.merchant_id == merchant_id, Staff.is_active.is_(True),
                                                     sa.or_(Staff.store_id.is_(None), Staff.store_id == store_id))
                              .order_by(Staff.id))
    return [s for s in rows if role_allows(s.role, Permission.CS_INBOX)]


# --- the member beside the conversation -----------------------------------------------------------

@dataclass(frozen=True)
class MemberCard:
    member: Member
    last_visits: list[MemberVisit]
    favourite_dishes: list[tuple[str, int]]
    tags: list


def member_card(conversation: Conversation, *, visits: int = 3, dishes: int = 3) -> MemberCard | None:
    if conversation.member_id is None:
        return None
    member = db.session.get(Member, conversation.member_id)
    if member is None:
        return None
    recent = list(db.session.scalars(sa.select(MemberVisit).where(MemberVisit.member_id == member.id)
                                     .order_by(MemberVisit.visited_at.desc(), MemberVisit.id.desc()).limit(50)))
    counted: Counter[str] = Counter()
    for visit in recent:
        if visit.paid_cents > visit.refunded_cents:
            for item in visit.items or []:
                if isinstance(item, dict) and item.get("name"):
                    counted[str(item["name"])] += int(item.get("qty") or 1)
    favourites = sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))[:dishes]
    return MemberCard(member, recent[:visits], favourites, crm.tags_of(member))


# --- settings ---------------------------------------------------------------------------------

def canned_replies(merchant_id: int) -> list[CannedReply]:
    return list(db.session.scalars(sa.select(CannedReply).where(CannedReply.merchant_id == merchant_id)
                                   .order_by(CannedReply.title)))


def _checked(value: str, high: int, what: str) -> str:
    value = (value or "").strip()
    if not 1 <= len(value) <= high:
        raise Unprocessable(gettext("%(what)s must be 1 to %(n)s characters.", what=what, n=high),
                            error_code="bad_text")
    return value


def add_canned_reply(*, actor: Actor, title: str, text: str, now: datetime) -> CannedReply:
    row = CannedReply(merchant_id=actor.merchant_id, title=_checked(title, 30, gettext("The title")),
                      text=_checked(text, MAX_TEXT, gettext("The text")), created_at=now)
    if not insert_unique(row):
        raise Conflict(gettext("A canned reply with this title already exists."), error_code="canned_reply_exists")
    return row


def add_keyword_reply(*, actor: Actor, keyword: str, text: str, now: datetime) -> KeywordReply:
    row = KeywordReply(merchant_id=actor.merchant_id, keyword=_checked(keyword, 20, gettext("The keyword")),
                       text=_checked(text, MAX_TEXT, gettext("The text")), created_at=now)
    if not insert_unique(row):
        raise Conflict(gettext("An auto-reply for this keyword already exists."), error_code="keyword_exists")
    return row


def delete_setting(model: type[CannedReply] | type[KeywordReply], row_id: int, *, actor: Actor) -> None:
    db.session.delete(get_scoped_or_404(model, row_id, actor.merchant_id))
