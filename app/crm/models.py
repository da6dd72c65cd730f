"""CRM tags: the rules a manager defines, and the index of every member's tags (by hand and by
rule) that member searches and segments read.

Hand tags are what `Member.tags` holds (as the member API has always written them); rule tags
come from `TagRule`s. `MemberTag` lists both, one row per (member, tag, source), kept by
`app.crm.service.refresh_member`.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import IntEnumType, LabelledEnum, TenantMixin, TimestampMixin, db, enum_check


class TagSource(LabelledEnum):
    HAND = 1
    RULE = 2


class TagRule(TenantMixin, TimestampMixin, db.Model):
    """Data for `tablerules.tags`: kind and params as that module reads them."""

    __tablename__ = "tag_rule"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(60))  # how the manager calls the rule
    tag: Mapped[str] = mapped_column(sa.String(20))
    kind: Mapped[str] = mapped_column(sa.String(20))
    params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(default=True)


class MemberTag(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "member_tag"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "member_id", "tag", "source"),
        enum_check("source", TagSource),
        sa.Index("ix_member_tag_lookup", "merchant_id", "tag"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id", ondelete="CASCADE"), index=True)
    tag: Mapped[str] = mapped_column(sa.String(20))
    source: Mapped[TagSource] = mapped_column(IntEnumType(TagSource))
    # The rules that give it, for a rule tag ([] for a hand tag).
    rule_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
