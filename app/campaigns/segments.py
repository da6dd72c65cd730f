"""A segment's filter as SQL, in one place: `tablerules.segments.SegmentSpec` → ONE statement.

`members_query()` selects the matching members' ids (and their figures), `count_query()` counts
them with one COUNT. Filters on the member row only (tier, points, stored value, birthday, tags,
source) never touch the bills; the pyramid filters (layer, visits, spend, last visit) read the
per-member figures of the pyramid window (`app.analytics.queries.member_figures`), and the layer
is the pyramid's own SQL CASE (`queries.layer_case`) with the thresholds in force, so a segment
"layer = 沉睡" holds exactly the members the pyramid shows in that layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from app.analytics import queries
from app.analytics import service as analytics
from app.db import db
from app.members.models import Member
from tablerules.campaigns import LOCAL_OFFSET
from tablerules.segments import SegmentSpec


@dataclass(frozen=True)
class Scope:
    """Where a spec is evaluated: the merchant, the moment and (for pyramid filters) the window
    and thresholds in force then."""

    merchant_id: int
    as_of: datetime
    start: datetime | None = None
    thresholds: object | None = None  # tablerules.rfm.Thresholds
    rollup: bool = False  # the figures from the members' rollup (it holds this window as of now)


def scope_for(merchant_id: int, spec: SegmentSpec, as_of: datetime) -> Scope:
    if not spec.needs_figures:
        return Scope(merchant_id, as_of)
    months, start, thresholds = analytics.thresholds_in_force(merchant_id, as_of)
    return Scope(merchant_id, as_of, start, thresholds, analytics.reads_rollup(merchant_id, start, months, as_of))


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _local_midnight(day) -> datetime:
    """The first moment of a Beijing day, as an aware UTC moment."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - LOCAL_OFFSET


def _member_conditions(spec: SegmentSpec) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if spec.tier_ids:
        conditions.append(Member.tier_id.in_(spec.tier_ids))
    if spec.points_min is not None:
        conditions.append(Member.points >= spec.points_min)
    if spec.points_max is not None:
        conditions.append(Member.points <= spec.points_max)
    stored = Member.principal_cents + Member.bonus_cents
    if spec.stored_value_min_cents is not None:
        conditions.append(stored >= spec.stored_value_min_cents)
    if spec.stored_value_max_cents is not None:
        conditions.append(stored <= spec.stored_value_max_cents)
    if spec.birthday_months:
        if _dialect() == "postgresql":
            month = sa.cast(sa.extract("month", Member.birthday), sa.Integer)
        else:
            month = sa.cast(sa.func.strftime("%m", Member.birthday), sa.Integer)
        conditions.append(sa.and_(Member.birthday.is_not(None), month.in_(spec.birthday_months)))
    if spec.tags:
        if _dialect() == "postgresql":
            conditions.append(sa.cast(Member.tags, JSONB).op("?|")(
                sa.bindparam("segment_tags", list(spec.tags), type_=ARRAY(sa.Text))))
        else:
            tag = sa.func.json_each(Member.tags).table_valued("value")
            wanted = sa.select(sa.column("value", sa.Text)).select_from(
                sa.func.json_each(sa.bindparam("segment_tags", json.dumps(list(spec.tags))))).scalar_subquery()
            conditions.append(sa.exists(sa.select(1).select_from(tag).where(tag.c.value.in_(wanted))))
    if spec.source_store_ids:
        conditions.append(Member.source_store_id.in_(spec.source_store_ids))
    if spec.source_table_ids:
        conditions.append(Member.source_table_id.in_(spec.source_table_ids))
    if spec.source_campaigns:
        conditions.append(Member.source_campaign.in_(spec.source_campaigns))
    return conditions


def _figure_conditions(spec: SegmentSpec, figures: sa.Subquery, scope: Scope) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if spec.layers:
        conditions.append(queries.layer_case(figures, scope.as_of, scope.thresholds).in_(spec.layers))
    if spec.visits_min is not None:
        conditions.append(figures.c.visits >= spec.visits_min)
    if spec.visits_max is not None:
        conditions.append(figures.c.visits <= spec.visits_max)
    if spec.spend_min_cents is not None:
        conditions.append(figures.c.spend_cents >= spec.spend_min_cents)
    if spec.spend_max_cents is not None:
        conditions.append(figures.c.spend_cents <= spec.spend_max_cents)
    if spec.last_visit_after is not None:
        conditions.append(figures.c.last_visit_at >= _local_midnight(spec.last_visit_after))
    if spec.last_visit_before is not None:
        conditions.append(sa.or_(figures.c.last_visit_at.is_(None),
                                 figures.c.last_visit_at < _local_midnight(spec.last_visit_before)))
    return conditions


def ids_query(spec: SegmentSpec, scope: Scope, *, extra: list[sa.ColumnElement[bool]] = ()) -> sa.Select:
    """SELECT the matching members' ids (one column, `id`). `extra` conditions are on `Member`."""
    conditions = [*_member_conditions(spec), *extra]
    if not spec.needs_figures:
        return sa.select(Member.id.label("id")).where(Member.merchant_id == scope.merchant_id,
                                                      Member.created_at <= scope.as_of, *conditions)
    figures = (queries.member_figures(scope.merchant_id, scope.start, scope.as_of, rollup=scope.rollup)
               .where(*conditions).subquery("figures"))
    return sa.select(figures.c.id.label("id")).where(*_figure_conditions(spec, figures, scope))


def count_query(spec: SegmentSpec, scope: Scope) -> sa.Select:
    """SELECT COUNT(*) of the segment: one statement."""
    return sa.select(sa.func.count()).select_from(ids_query(spec, scope).subquery("segment"))


def members_query(spec: SegmentSpec, scope: Scope, *, after_id: int = 0, limit: int = 50) -> sa.Select:
    """A page of the segment's members in id order (keyset: ids after `after_id`), with their
    pyramid-window figures."""
    start, rollup = scope.start, scope.rollup
    if start is None:
        months, start, _thresholds = analytics.thresholds_in_force(scope.merchant_id, scope.as_of)
        rollup = analytics.reads_rollup(scope.merchant_id, start, months, scope.as_of)
    matching = ids_query(spec, scope).subquery("segment")
    page_ids = sa.select(matching.c.id).where(matching.c.id > after_id).order_by(matching.c.id).limit(limit)
    return (queries.member_figures(scope.merchant_id, start, scope.as_of, rollup=rollup)
            .add_columns(Member.points, (Member.principal_cents + Member.bonus_cents).label("stored_value_cents"),
                         Member.birthday, Member.tags)
            .where(Member.id.in_(page_ids.scalar_subquery()))
            .order_by(Member.id))


def count(spec: SegmentSpec, merchant_id: int, as_of: datetime) -> int:
    return int(db.session.scalar(count_query(spec, scope_for(merchant_id, spec, as_of))) or 0)

