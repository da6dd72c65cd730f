"""What /api/v1/analytics reads and answers."""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import fields, validate

from app.analytics.service import SORTS
from app.api import MAX_CENTS, Schema
from tablerules.rfm import MAX_WINDOW_MONTHS

MAX_DAYS = 31 * MAX_WINDOW_MONTHS
MAX_PAGE = 100_000


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, tzinfo=UTC)


class AsOfQuery(Schema):
    as_of = fields.AwareDateTime(validate=validate.Range(min=EARLIEST, max=LATEST),
                                 metadata={"description": "Score as of this moment (default: now)"})


class LayerMembersQuery(AsOfQuery):
    sort = fields.String(load_default="spend", validate=validate.OneOf(sorted(SORTS)))
    order = fields.String(load_default="desc", validate=validate.OneOf(["asc", "desc"]))
    page = fields.Integer(strict=False, load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(strict=False, load_default=50, validate=validate.Range(min=1, max=200))


class CsvQuery(AsOfQuery):
    sort = fields.String(load_default="spend", validate=validate.OneOf(sorted(SORTS)))
    order = fields.String(load_default="desc", validate=validate.OneOf(["asc", "desc"]))


class ThresholdsOut(Schema):
    active_days = fields.Integer()
    lost_days = fields.Integer()
    frequent_visits = fields.Integer()
    high_spend_cents = fields.Integer()
    new_member_days = fields.Integer()


class ChosenThresholds(Schema):
    active_days = fields.Integer(allow_none=True)
    lost_days = fields.Integer(allow_none=True)
    frequent_visits = fields.Integer(allow_none=True)
    high_spend_cents = fields.Integer(allow_none=True)
    new_member_days = fields.Integer(allow_none=True)


class SettingsOut(Schema):
    window_months = fields.Integer()
    chosen = fields.Nested(ChosenThresholds, metadata={"description": "What the merchant set; null: the default"})
    defaults = fields.Nested(ThresholdsOut, metadata={"description": "From the merchant's own figures"})
    in_force = fields.Nested(ThresholdsOut)


class SettingsIn(Schema):
    """Any of the fields; a threshold set to null goes back to the default from the data."""

    window_months = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_WINDOW_MONTHS))
    active_days = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=MAX_DAYS))
    lost_days = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=2, max=MAX_DAYS))
    frequent_visits = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=2, max=10_000))
    high_spend_cents = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=MAX_CENTS))
    new_member_days = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=MAX_DAYS))


class WindowOut(Schema):
    months = fields.Integer()
    start = fields.DateTime()
    end = fields.DateTime()


class LayerOut(Schema):
    layer = fields.String(metadata={"description": "core, important, potential, new, dormant or lost"})
    name = fields.String(metadata={"description": "In the caller's language"})
    name_zh = fields.String()
    name_en = fields.String()
    rank = fields.Integer(metadata={"description": "6 for the top of the pyramid, 1 for the bottom"})
    members = fields.Integer()
    visits = fields.Integer()
    revenue_cents = fields.Integer()
    revenue_share_permille = fields.Integer(metadata={"description": "Share of the window's member revenue, ‰"})
    avg_spend_per_visit_cents = fields.Integer()
    avg_spend_per_member_cents = fields.Integer()
    members_url = fields.String()


class TotalsOut(Schema):
    members = fields.Integer()
    visits = fields.Integer()
    revenue_cents = fields.Integer()


class PyramidOut(Schema):
    as_of = fields.DateTime()
    window = fields.Nested(WindowOut)
    thresholds = fields.Nested(ThresholdsOut)
    totals = fields.Nested(TotalsOut)
    layers = fields.List(fields.Nested(LayerOut))


class MemberRfmOut(Schema):
    id = fields.Integer()
    member_no = fields.String()
    name = fields.String()
    phone = fields.String()
    tier_id = fields.Integer()
    layer = fields.Function(lambda m: m.layer.value)
    visits = fields.Integer()
    spend_cents = fields.Integer()
    last_visit_at = fields.DateTime(allow_none=True)
    recency_days = fields.Integer(metadata={"description": "Days since the last counted visit, else since joining"})
    joined_at = fields.DateTime()
    detail_url = fields.Function(lambda m: f"/manage/members/{m.id}",
                                 metadata={"description": "The member's page"})
    api_url = fields.Function(lambda m: f"/api/v1/members/{m.id}")


class LayerMembersOut(Schema):
    layer = fields.String()
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    pages = fields.Integer()
    sort = fields.String()
    order = fields.String()
    members = fields.List(fields.Nested(MemberRfmOut))


class DishFigureOut(Schema):
    dish_id = fields.Integer()
    name = fields.String()
    name_en = fields.String()
    category_id = fields.Integer(allow_none=True)
    qty = fields.Integer(metadata={"description": "Ordered less refunded"})
    revenue_cents = fields.Integer(metadata={"description": "At the price on the bill, before bill discounts"})
    visits = fields.Integer()


class CategoryFigureOut(Schema):
    category_id = fields.Integer(allow_none=True)
    name = fields.String()
    name_en = fields.String()
    qty = fields.Integer()
    revenue_cents = fields.Integer()


class StoreFigureOut(Schema):
    store_id = fields.Integer()
    name = fields.String()
    visits = fields.Integer()
    revenue_cents = fields.Integer()


class BandOut(Schema):
    from_cents = fields.Integer()
    below_cents = fields.Integer(allow_none=True)
    visits = fields.Integer()


class LikesOut(Schema):
    layer = fields.String()
    members = fields.Integer()
    visits = fields.Integer()
    revenue_cents = fields.Integer()
    avg_spend_per_visit_cents = fields.Integer(metadata={"description": "Average party spend: what a visit paid"})
    top_by_qty = fields.List(fields.Nested(DishFigureOut))
    top_by_revenue = fields.List(fields.Nested(DishFigureOut))
    categories = fields.List(fields.Nested(CategoryFigureOut))
    weekdays = fields.List(fields.Integer(), metadata={"description": "Visits Monday to Sunday, Beijing time"})
    hours = fields.List(fields.Integer(), metadata={"description": "Visits by hour 0–23, Beijing time"})
    stores = fields.List(fields.Nested(StoreFigureOut))
    bill_bands = fields.List(fields.Nested(BandOut))


class MovementQuery(AsOfQuery):
    months = fields.Integer(strict=False, load_default=1, validate=validate.Range(min=1, max=12),
                            metadata={"description": "Compare with this many months earlier"})


class MovementRowOut(Schema):
    from_layer = fields.String(allow_none=True, data_key="from",
                               metadata={"description": "The layer before; null for members who joined since"})
    to = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "Layer after -> members"})
    total = fields.Integer()


class MovementOut(Schema):
    before = fields.DateTime()
    after = fields.DateTime()
    thresholds = fields.Nested(ThresholdsOut)
    rows = fields.List(fields.Nested(MovementRowOut))
    moved_up = fields.Integer()
    moved_down = fields.Integer()
    stayed = fields.Integer()
    joined = fields.Integer()


# --- the sales dashboard -------------------------------------------------------------------------

class SalesQuery(Schema):
    period = fields.String(load_default="today", validate=validate.OneOf(["today", "week", "month"]),
                           metadata={"description": "today, this week (Monday first) or this month, Beijing time"})
    date = fields.Date(validate=validate.Range(min=EARLIEST.date(), max=LATEST.date()),
                       metadata={"description": "A day inside the period (default: today)"})
    store_id = fields.Integer(strict=False, validate=validate.Range(min=1, max=2**31 - 1),
                              metadata={"description": "One store (default: the whole chain)"})


class SalesTotalsOut(Schema):
    revenue_cents = fields.Integer(metadata={"description": "What the period's sales kept: paid less refunded"})
    orders = fields.Integer(metadata={"description": "Paid orders, not counting those refunded in full"})
    avg_spend_cents = fields.Integer(metadata={"description": "Revenue per order"})
    member_revenue_cents = fields.Integer()
    non_member_revenue_cents = fields.Integer()
    member_orders = fields.Integer()
    member_share_permille = fields.Integer(metadata={"description": "Members' share of revenue, ‰"})
    refunded_cents = fields.Integer(metadata={"description": "Refunded from the period's sales (already subtracted)"})
    refunded_orders = fields.Integer(metadata={"description": "Orders refunded in full"})


class SalesStoreOut(SalesTotalsOut):
    store_id = fields.Integer()
    name = fields.String()


class TenderOut(Schema):
    tender = fields.String(metadata={"description": "cash, stored_value or wechat"})
    cents = fields.Integer(metadata={"description": "Charges less change, less refunds"})


class SourceOut(Schema):
    source = fields.String(metadata={"description": "campaign, table, store or none"})
    label = fields.String()
    store_id = fields.Integer(allow_none=True)
    members = fields.Integer()


class TopDishOut(Schema):
    dish_id = fields.Integer()
    name = fields.String()
    name_en = fields.String()
    qty = fields.Integer(metadata={"description": "Ordered less refunded"})
    revenue_cents = fields.Integer(metadata={"description": "At the price on the bill, before bill discounts"})


class BucketOut(Schema):
    label = fields.String(metadata={"description": "Hour '00'–'23' for a day, the date for a week or month"})
    revenue_cents = fields.Integer()
    orders = fields.Integer()


class SalesOut(Schema):
    period = fields.String()
    start = fields.DateTime()
    end = fields.DateTime()
    first_day = fields.Date()
    last_day = fields.Date()
    store_id = fields.Integer(allow_none=True)
    totals = fields.Nested(SalesTotalsOut)
    stores = fields.List(fields.Nested(SalesStoreOut))
    tenders = fields.List(fields.Nested(TenderOut))
    new_members = fields.Integer()
    new_members_by_source = fields.Dict(keys=fields.String(), values=fields.Integer())
    sources = fields.List(fields.Nested(SourceOut))
    top_dishes = fields.List(fields.Nested(TopDishOut))
    series = fields.List(fields.Nested(BucketOut))
