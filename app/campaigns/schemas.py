"""What /api/v1/segments and /api/v1/campaigns read and answer."""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import fields, validate

from app.api import Flag, Id, NonNegativeCents, QueryId, Schema, Text
from tablerules.campaigns import MAX_HOLDOUT_PERCENT
from tablerules.segments import LAYER_VALUES, MAX_COUNT, MAX_LIST

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, tzinfo=UTC)
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


def _ids(**kwargs):
    return fields.List(Id(), validate=validate.Length(max=MAX_LIST), **kwargs)


def _texts(**kwargs):
    return fields.List(Text(60), validate=validate.Length(max=MAX_LIST), **kwargs)


def _count(**kwargs):
    return fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_COUNT), allow_none=True, **kwargs)


class SpecSchema(Schema):
    """The filter (`tablerules.segments`): every field narrows; a list matches any of its values."""

    layers = fields.List(fields.String(validate=validate.OneOf(LAYER_VALUES)), validate=validate.Length(max=6))
    tier_ids = _ids()
    last_visit_after = fields.Date(allow_none=True, metadata={"description": "on or after this day (Beijing)"})
    last_visit_before = fields.Date(allow_none=True, metadata={"description": "before this day; never seen counts"})
    spend_min_cents = NonNegativeCents(allow_none=True)
    spend_max_cents = NonNegativeCents(allow_none=True)
    visits_min = _count()
    visits_max = _count()
    points_min = NonNegativeCents(allow_none=True)
    points_max = NonNegativeCents(allow_none=True)
    stored_value_min_cents = NonNegativeCents(allow_none=True)
    stored_value_max_cents = NonNegativeCents(allow_none=True)
    birthday_months = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1, max=12)),
                                  validate=validate.Length(max=12))
    tags = _texts()
    source_store_ids = _ids()
    source_table_ids = _ids()
    source_campaigns = _texts()


class SegmentIn(Schema):
    name = Text(60, required=True)
    spec = fields.Nested(SpecSchema, load_default=dict)


class SegmentUpdate(Schema):
    name = Text(60)
    spec = fields.Nested(SpecSchema)


class CountIn(Schema):
    spec = fields.Nested(SpecSchema, load_default=dict)


class CountOut(Schema):
    members = fields.Integer()


class SegmentOut(Schema):
    id = fields.Integer()
    name = fields.String()
    spec = fields.Dict()
    members = fields.Integer(metadata={"description": "the live count"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True)


class SegmentSummary(Schema):
    id = fields.Integer()
    name = fields.String()
    spec = fields.Dict()
    created_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True)


class SegmentList(Schema):
    segments = fields.List(fields.Nested(SegmentSummary))


class MembersQuery(Schema):
    after_id = QueryId(load_default=None, metadata={"description": "id order: the last id of the previous page"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class SegmentMember(Schema):
    id = fields.Integer()
    member_no = fields.String()
    name = fields.String()
    tier_id = fields.Integer()
    visits = fields.Integer()
    spend_cents = fields.Integer()
    last_visit_at = fields.DateTime(allow_none=True)
    points = fields.Integer()
    stored_value_cents = fields.Integer()


class SegmentMembersOut(Schema):
    members = fields.List(fields.Nested(SegmentMember))
    next_after_id = fields.Integer(allow_none=True, metadata={"description": "pass as after_id for the next page"})


class CampaignIn(Schema):
    name = Text(60, required=True)
    idempotency_key = fields.String(validate=validate.Length(min=1, max=100))
    trigger = fields.String(load_default="once", validate=validate.OneOf(["once", "birthday", "win_back"]))
    segment_id = Id(allow_none=True)
    spec = fields.Nested(SpecSchema, metadata={"description": "automations: an extra filter"})
    coupon_template_id = Id(allow_none=True)
    message_title = Text(60, allow_blank=True, load_default="")
    message_body = Text(200, allow_blank=True, load_default="")
    holdout_percent = fields.Integer(strict=True, load_default=0,
                                     validate=validate.Range(min=0, max=MAX_HOLDOUT_PERCENT))
    quiet_start = fields.String(allow_none=True, validate=validate.Regexp(TIME_PATTERN),
                                metadata={"description": "HH:MM Beijing time; messages wait until quiet_end"})
    quiet_end = fields.String(allow_none=True, validate=validate.Regexp(TIME_PATTERN))
    window_days = fields.Integer(strict=True, load_default=14, validate=validate.Range(min=1, max=90))
    scheduled_at = fields.AwareDateTime(allow_none=True, validate=validate.Range(min=EARLIEST, max=LATEST))


class GroupOut(Schema):
    members = fields.Integer()
    visited = fields.Integer()
    paid = fields.Integer()
    revenue_cents = fields.Integer()
    paid_rate_permille = fields.Integer()
    revenue_per_member_cents = fields.Integer()


class FunnelOut(Schema):
    sent = fields.Nested(GroupOut)
    opened = fields.Integer()
    open_rate_permille = fields.Integer()
    coupons_issued = fields.Integer()
    coupons_redeemed = fields.Integer()
    coupon_cost_cents = fields.Integer()
    incremental_revenue_cents = fields.Integer()
    roi_permille = fields.Integer(allow_none=True)
    uplift_permille = fields.Integer(allow_none=True)
    holdout = fields.Nested(GroupOut, allow_none=True)


class CampaignOut(Schema):
    id = fields.Integer()
    name = fields.String()
    trigger = fields.Function(lambda c: c.trigger.label)
    status = fields.Function(lambda c: c.status.label)
    segment_id = fields.Integer(allow_none=True)
    spec = fields.Dict()
    coupon_template_id = fields.Integer(allow_none=True)
    message_title = fields.String()
    message_body = fields.String()
    holdout_percent = fields.Integer()
    quiet_start = fields.Function(lambda c: None if c.quiet_start_minute is None
                                  else f"{c.quiet_start_minute // 60:02d}:{c.quiet_start_minute % 60:02d}")
    quiet_end = fields.Function(lambda c: None if c.quiet_end_minute is None
                                else f"{c.quiet_end_minute // 60:02d}:{c.quiet_end_minute % 60:02d}")
    window_days = fields.Integer()
    scheduled_at = fields.DateTime(allow_none=True)
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    audience_count = fields.Integer()
    sent_count = fields.Integer()
    holdout_count = fields.Integer()
    parent_id = fields.Integer(allow_none=True)
    period = fields.String(allow_none=True)
    created_at = fields.DateTime()


class CampaignList(Schema):
    campaigns = fields.List(fields.Nested(CampaignOut))


class CampaignQuery(Schema):
    segment_id = QueryId()


class PreviewOut(Schema):
    members = fields.Integer()
    holdout_about = fields.Integer()
    to_send_about = fields.Integer()


class SendIn(Schema):
    confirm = Flag(required=True, metadata={"description": "must be true: the manager saw the preview count"})


class SendOut(Schema):
    campaign = fields.Nested(CampaignOut)
    audience = fields.Integer()
    processed = fields.Integer(metadata={"description": "deliveries done in this request; the scheduler does the rest"})
