from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import TenantMixin, TimestampMixin, UTCDateTime, db, utcnow


class Category(TenantMixin, db.Model):
    """A section of the menu (凉菜, 热菜 …), shared by all stores of the merchant."""

    __tablename__ = "menu_category"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40))
    name_en: Mapped[str] = mapped_column(sa.String(80), default="")
    sort_order: Mapped[int] = mapped_column(default=0)


class Dish(TenantMixin, TimestampMixin, db.Model):
    """Something a diner can order; the price is per unit (份, 例, 碗, 瓶 …) before options."""

    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "name"),
        sa.CheckConstraint("price_cents >= 0", name="price_cents_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("menu_category.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    name_en: Mapped[str] = mapped_column(sa.String(120), default="")
    price_cents: Mapped[int] = mapped_column(sa.BigInteger)
    unit: Mapped[str] = mapped_column(sa.String(10), default="份")
    # Member tier discounts apply only to discountable dishes (not to drinks, the tea fee …).
    is_discountable: Mapped[bool] = mapped_column(default=True)
    # Kitchen station code ('hot', 'cold', 'bar', 'staple' …): tickets route to its printer.
    station: Mapped[str] = mapped_column(sa.String(20), default="hot")
    image_url: Mapped[str] = mapped_column(sa.String(500), default="")
    sort_order: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)

    category: Mapped[Category] = relationship()
    option_groups: Mapped[list[OptionGroup]] = relationship(
        back_populates="dish", order_by="[OptionGroup.sort_order, OptionGroup.id]", cascade="all, delete-orphan")


class DishPhoto(TenantMixin, db.Model):
    """A dish's photo as the manager uploaded it (JPEG, PNG or WebP), kept in the database so that
    every web process serves it; the dish's `image_url` names it (`app.menu.photos`)."""

    __tablename__ = "dish_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    dish_id: Mapped[int] = mapped_column(sa.ForeignKey("dish.id", ondelete="CASCADE"), unique=True)
    content_type: Mapped[str] = mapped_column(sa.String(20))
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OptionGroup(TenantMixin, db.Model):
    """A spec a diner picks for a dish, e.g. 辣度 (one of 不辣/微辣/中辣/特辣) or 加料 (up to 3)."""

    __tablename__ = "dish_option_group"
    __table_args__ = (
        sa.UniqueConstraint("dish_id", "name"),
        sa.CheckConstraint("max_choices >= 1", name="max_choices_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dish_id: Mapped[int] = mapped_column(sa.ForeignKey("dish.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(30))
    name_en: Mapped[str] = mapped_column(sa.String(60), default="")
    is_required: Mapped[bool] = mapped_column(default=False)
    max_choices: Mapped[int] = mapped_column(sa.SmallInteger, default=1)
    sort_order: Mapped[int] = mapped_column(default=0)

    dish: Mapped[Dish] = relationship(back_populates="option_groups")
    choices: Mapped[list[OptionChoice]] = relationship(
        back_populates="group", order_by="[OptionChoice.sort_order, OptionChoice.id]", cascade="all, delete-orphan")


class OptionChoice(TenantMixin, db.Model):
    """One answer of an option group; its price is added to the dish's unit price."""

    __tablename__ = "dish_option_choice"
    __table_args__ = (
        sa.UniqueConstraint("group_id", "name"),
        sa.CheckConstraint("price_delta_cents >= 0", name="price_delta_cents_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("dish_option_group.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(30))
    name_en: Mapped[str] = mapped_column(sa.String(60), default="")
    price_delta_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    sort_order: Mapped[int] = mapped_column(default=0)

    group: Mapped[OptionGroup] = relationship(back_populates="choices")


class DishAvailability(TenantMixin, db.Model):
    """Whether one store can sell a dish right now (沽清). No row means available."""

    __tablename__ = "dish_availability"
    __table_args__ = (sa.UniqueConstraint("store_id", "dish_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"))
    dish_id: Mapped[int] = mapped_column(sa.ForeignKey("dish.id", ondelete="CASCADE"), index=True)
    is_sold_out: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Station(TenantMixin, db.Model):
    """A kitchen station by its code (the `station` of dishes, tickets and printers), with the name
    the store's staff call it (热菜, 凉菜, 吧台 …). A code without a row is shown as the code."""

    __tablename__ = "kitchen_station"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(20))
    name_en: Mapped[str] = mapped_column(sa.String(40), default="")
    sort_order: Mapped[int] = mapped_column(default=0)
class MenuVersion(db.Model):
    """A counter per merchant that every change of the menu's rows moves (`app.menu.version`):
    the diner's menu page keeps its rendered dishes per store keyed by it."""

    __tablename__ = "menu_version"

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchant.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0)
