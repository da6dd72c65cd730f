"""A merchant's WeChat official account and WeChat Pay credentials; its followers; the diners
seen at each table session."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import TenantMixin, TimestampMixin, UTCDateTime, db, utcnow
from app.secretbox import EncryptedString


class WeChatSettings(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "wechat_settings"
    __table_args__ = (sa.UniqueConstraint("merchant_id"), sa.UniqueConstraint("appid"))

    id: Mapped[int] = mapped_column(primary_key=True)
    # The secrets (app secret, callback token, AES key, Pay API key) are stored encrypted
    # (app.secretbox): the attributes hold the plain values, the rows only Fernet tokens. The
    # lengths are those of the plain values; "" means not set.
    # Official account
    appid: Mapped[str] = mapped_column(sa.String(32))
    app_secret: Mapped[str] = mapped_column(EncryptedString(64))
    token: Mapped[str] = mapped_column(EncryptedString(64))  # signs the callbacks WeChat sends us
    encoding_aes_key: Mapped[str | None] = mapped_column(EncryptedString(43))
    # WeChat Pay v2
    mch_id: Mapped[str] = mapped_column(sa.String(32), default="")
    api_key: Mapped[str] = mapped_column(EncryptedString(32), default="")
    # Template ids and their field names, per message kind (bill_pushed, payment_success,
    # stored_value_changed, points_changed, coupon_received): {"kind": {"template_id": "...",
    # "fields": ["first", "keyword1", ...]}} (see app.wechat.notify for what fills each field).
    # Category templates differ per account, so they are data.
    templates: Mapped[dict] = mapped_column(sa.JSON, default=dict)


class WeChatFollower(TenantMixin, TimestampMixin, db.Model):
    """Someone who follows (or followed) the merchant's official account, and the QR scene that
    brought them: a member who signs up later is attributed to `first_scene`."""

    __tablename__ = "wechat_follower"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "openid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(sa.String(64))
    is_subscribed: Mapped[bool] = mapped_column(default=True)
    scene: Mapped[str | None] = mapped_column(sa.String(64))  # the latest scene scanned
    first_scene: Mapped[str | None] = mapped_column(sa.String(64))  # the first: what brought them
    subscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TableDiner(TenantMixin, db.Model):
    """A diner (by openid) seen at a table session: the pushed bill goes to each of them."""

    __tablename__ = "table_diner"
    __table_args__ = (sa.UniqueConstraint("table_session_id", "openid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    table_session_id: Mapped[int] = mapped_column(sa.ForeignKey("table_session.id", ondelete="CASCADE"))
    openid: Mapped[str] = mapped_column(sa.String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
