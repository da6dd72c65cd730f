"""Database base: naming convention, typed base model, column types, tenancy scoping.

Every business table carries `merchant_id` (`TenantMixin`). Queries for tenant rows go through
`scoped()` / `get_scoped_or_404()`, limited to the actor's merchant (a service passes
`actor.merchant_id`; a route may leave it to the authenticated caller's), so no query forgets the
filter without writing raw SQL.
"""

from __future__ import annotations

import enum
import functools
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import g
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def begin_write() -> None:
    """Open this session's transaction as a writer (SQLite: BEGIN IMMEDIATE; others: no change).

    Call it before the first query of a transaction that will write; the API guard does so for
    every POST, PUT, PATCH and DELETE.
    """
    from app.sqlite import WRITE_OPTION

    if not db.session().in_transaction():
        db.session.connection(execution_options={WRITE_OPTION: True})


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Aware UTC datetimes on every database (SQLite has no time zones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


E = TypeVar("E", bound=enum.IntEnum)


class IntEnumType(sa.types.TypeDecorator):
    """An IntEnum stored as a small integer; pair it with `enum_check()` in __table_args__."""

    impl = sa.SmallInteger
    cache_ok = True

    def __init__(self, enum_cls: type[enum.IntEnum]) -> None:
        super().__init__()
        self.enum_cls = enum_cls

    def process_bind_param(self, value: Any, dialect: Any) -> int | None:
        return None if value is None else int(self.enum_cls(value))

    def process_result_value(self, value: Any, dialect: Any) -> enum.IntEnum | None:
        return None if value is None else self.enum_cls(value)


class LabelledEnum(enum.IntEnum):
    """An enum stored as its number (`IntEnumType`, `enum_check`) and named in the API and on the
    pages by its lower-case name."""

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str):
        return cls[str(label).upper()]


def enum_check(column: str, enum_cls: type[enum.IntEnum]) -> sa.CheckConstraint:
    values = ", ".join(str(int(member)) for member in enum_cls)
    return sa.CheckConstraint(f"{column} IN ({values})", name=f"{column}_valid")


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TenantMixin:
    """A row that belongs to one merchant."""

    @declared_attr
    def merchant_id(cls) -> Mapped[int]:
        return mapped_column(sa.ForeignKey("merchant.id", ondelete="CASCADE"), index=True)


M = TypeVar("M", bound=TenantMixin)


def current_merchant_id() -> int:
    """The merchant of the authenticated staff member or device; never guessed."""
    merchant_id = getattr(g, "merchant_id", None)
    if merchant_id is None:
        raise RuntimeError("no authenticated merchant in this request")
    return merchant_id


def scoped(model: type[M], merchant_id: int | None = None) -> sa.Select[tuple[M]]:
    """`select(model)` already limited to `merchant_id` (services pass the actor's), or in a route
    to the authenticated caller's merchant."""
    merchant_id = current_merchant_id() if merchant_id is None else merchant_id
    return sa.select(model).where(model.merchant_id == merchant_id)


def get_scoped(model: type[M], object_id: int, merchant_id: int | None = None) -> M | None:
    return db.session.scalar(scoped(model, merchant_id).where(model.id == object_id))  # type: ignore[attr-defined]


def get_scoped_or_404(model: type[M], object_id: int, merchant_id: int | None = None) -> M:
    """The row if it exists *and* belongs to the merchant; otherwise 404, the same answer."""
    from app.errors import NotFound

    row = get_scoped(model, object_id, merchant_id)
    if row is None:
        raise NotFound(model.__name__.lower())
    return row


@functools.cache
def _id_query(model: type) -> sa.Select:
    """The id of a row of `model` that belongs to a merchant, built once per model (every API
    request with an id in its URL runs it)."""
    return sa.select(model.id).where(model.id == sa.bindparam("object_id"),  # type: ignore[attr-defined]
                                     model.merchant_id == sa.bindparam("merchant_id"))  # type: ignore[attr-defined]


def require_scoped(model: type[M], object_id: int, merchant_id: int | None = None) -> None:
    """404 unless the row exists and belongs to the merchant, as `get_scoped_or_404`, reading its
    id only (the API guard checks every id in a URL so; the service loads the row as it needs)."""
    from app.errors import NotFound

    merchant_id = current_merchant_id() if merchant_id is None else merchant_id
    found = db.session.execute(_id_query(model), {"object_id": object_id, "merchant_id": merchant_id}).first()
    if found is None:
        raise NotFound(model.__name__.lower())


def insert_unique(row: Any) -> bool:
    """Add `row` inside a savepoint; False (and nothing added) when a UNIQUE key already holds it.

    For get-or-create and "name taken" checks that must stay right when two requests race on
    PostgreSQL: the loser's INSERT fails on the constraint instead of answering a 500.
    """
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except sa.exc.IntegrityError:
        return False
    return True
