"""The customer-service inbox (多客服): one conversation per follower of the official account,
its messages both ways, the canned replies staff pick from and the keyword auto-replies."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import IntEnumType, LabelledEnum, TenantMixin, TimestampMixin, UTCDateTime, db, enum_check, utcnow


class Direction(enum.IntEnum):
    IN = 1  # the follower wrote to the account
    OUT = 2  # staff answered by customer-service message (after commit, through the outbox)
    AUTO = 3  # a keyword auto-reply, sent as the callback's passive reply


class MessageKind(LabelledEnum):
    TEXT = 1
    IMAGE = 2


class Conversation(TenantMixin, TimestampMixin, db.Model):
    """A follower's thread with the merchant's account, shown in one store's inbox: the store of
    the table QR code that brought the follower, else the member's store, else the first store."""

    __tablename__ = "cs_conversation"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "openid"),
        sa.CheckConstraint("unread_count >= 0", name="unread_not_negative"),
        sa.Index("ix_cs_conversation_store_recent", "store_id", "last_message_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"))
    openid: Mapped[str] = mapped_column(sa.String(64))
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id", ondelete="SET NULL"))
    assigned_staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    unread_count: Mapped[int] = mapped_column(default=0)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The follower's latest message: the 48-hour reply window counts from it.
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_preview: Mapped[str] = mapped_column(sa.String(80), default="")


class ServiceMessage(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "cs_message"
    __table_args__ = (
        # WeChat retries a callback it got no answer to: the same MsgId is one message.
        sa.UniqueConstraint("merchant_id", "wechat_msg_id"),
        # A staff reply posted twice (a double click, a retried request) is one reply.
        sa.UniqueConstraint("merchant_id", "idempotency_key"),
        enum_check("direction", Direction),
        enum_check("kind", MessageKind),
        sa.Index("ix_cs_message_conversation", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(sa.ForeignKey("cs_conversation.id", ondelete="CASCADE"))
    direction: Mapped[Direction] = mapped_column(IntEnumType(Direction))
    kind: Mapped[MessageKind] = mapped_column(IntEnumType(MessageKind), default=MessageKind.TEXT)
    text: Mapped[str] = mapped_column(sa.Text, default="")
    image_url: Mapped[str | None] = mapped_column(sa.String(500))
    wechat_msg_id: Mapped[str | None] = mapped_column(sa.String(32))
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(80))
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))


class CannedReply(TenantMixin, TimestampMixin, db.Model):
    """A ready answer staff pick instead of typing it ("营业时间：10:00–22:00")."""

    __tablename__ = "cs_canned_reply"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "title"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(30))
    text: Mapped[str] = mapped_column(sa.String(600))


class KeywordReply(TenantMixin, TimestampMixin, db.Model):
    """A message containing `keyword` is answered at once with `text`, without staff."""

    __tablename__ = "cs_keyword_reply"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "keyword"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    keyword: Mapped[str] = mapped_column(sa.String(20))
    text: Mapped[str] = mapped_column(sa.String(600))
    is_active: Mapped[bool] = mapped_column(default=True)
