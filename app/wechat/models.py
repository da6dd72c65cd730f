"""A merchant's WeChat official account and WeChat Pay merchant credentials."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import TenantMixin, TimestampMixin, db


class WeChatSettings(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "wechat_settings"
    __table_args__ = (sa.UniqueConstraint("merchant_id"), sa.UniqueConstraint("appid"))

    id: Mapped[int] = mapped_column(primary_key=True)
    # Official account
    appid: Mapped[str] = mapped_column(sa.String(32))
    app_secret: Mapped[str] = mapped_column(sa.String(64))
    token: Mapped[str] = mapped_column(sa.String(64))  # signs the callbacks WeChat sends us
    encoding_aes_key: Mapped[str | None] = mapped_column(sa.String(43))
    # WeChat Pay v2
    mch_id: Mapped[str] = mapped_column(sa.String(32), default="")
    api_key: Mapped[str] = mapped_column(sa.String(32), default="")
    # Template ids and their field names, per message kind (bill_pushed, payment_success,
    # stored_value_changed, points_changed, coupon_received): {"kind": {"template_id": "...",
    # "fields": {"first": "...", ...}}}. Category templates differ per account, so they are data.
    templates: Mapped[dict] = mapped_column(sa.JSON, default=dict)
