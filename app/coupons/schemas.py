from datetime import UTC

from marshmallow import ValidationError, fields, validate

from app.api import Flag, Id, NonNegativeCents, PositiveCents, Schema, Text
from app.coupons import service
from app.coupons.models import CouponStatus, TemplateKind

KEY = validate.Length(min=8, max=100)
CODE = validate.Regexp(r"^\s*[Cc][Pp][0-9A-Za-z]{10}\s*$", error="Not a coupon code.")


def _sane_year(value) -> None:
    if not 2000 <= value.year <= 2200:
        raise ValidationError("Must be between the years 2000 and 2200.")


def When(**kwargs) -> fields.AwareDateTime:
    """An ISO 8601 time; one without an offset is taken as UTC."""
    return fields.AwareDateTime(default_timezone=UTC, validate=_sane_year, **kwargs)


def IdList(**kwargs) -> fields.List:
    return fields.List(Id(), validate=validate.Length(min=1, max=200), **kwargs)


# --- templates -------------------------------------------------------------------------------

class CouponTemplateIn(Schema):
    """A coupon template. Which fields a kind needs (and refuses) is checked by the coupon rules:
    cash needs `value_cents`; percent needs `percent_off` (1–99) and may cap it with `cap_cents`;
    free dish needs `dish_id` and takes no scope. Validity: `valid_until`, `valid_days` or both
    (the earlier end wins)."""

    name = Text(60, required=True)
    name_en = Text(120, allow_blank=True, load_default="")
    kind = fields.String(required=True, validate=validate.OneOf([k.label for k in TemplateKind]))
    value_cents = NonNegativeCents(load_default=0)
    percent_off = fields.Integer(strict=True, allow_none=True, load_default=None,
                                 validate=validate.Range(min=1, max=99))
    cap_cents = PositiveCents(allow_none=True, load_default=None)
    min_spend_cents = NonNegativeCents(load_default=0)
    dish_id = Id(allow_none=True, load_default=None)
    category_ids = IdList(allow_none=True, load_default=None)
    dish_ids = IdList(allow_none=True, load_default=None)
    valid_from = When(allow_none=True, load_default=None)
    valid_until = When(allow_none=True, load_default=None)
    valid_days = fields.Integer(strict=True, allow_none=True, load_default=None,
                                validate=validate.Range(min=1, max=3650))
    per_member_limit = fields.Integer(strict=True, allow_none=True, load_default=None,
                                      validate=validate.Range(min=1, max=1000))
    is_transferable = Flag(load_default=False)
    is_stackable = Flag(load_default=False)
    max_transfer_chain = fields.Integer(strict=True, load_default=1, validate=validate.Range(min=0, max=20))
    is_active = Flag(load_default=True)


class CouponTemplateUpdate(CouponTemplateIn):
    """Any fields of a template; the rest stay. Terms are frozen once a coupon was issued."""

    def __init__(self, **kwargs) -> None:
        super().__init__(partial=True, **kwargs)


class CouponTemplateOut(Schema):
    id = fields.Integer()
    name = fields.String()
    name_en = fields.String()
    kind = fields.Function(lambda t: t.kind.label)
    terms = fields.Function(lambda t: service.terms(t).zh)
    terms_en = fields.Function(lambda t: service.terms(t).en)
    value_cents = fields.Integer()
    percent_off = fields.Integer(allow_none=True)
    cap_cents = fields.Integer(allow_none=True)
    min_spend_cents = fields.Integer()
    dish_id = fields.Integer(allow_none=True)
    category_ids = fields.List(fields.Integer(), allow_none=True)
    dish_ids = fields.List(fields.Integer(), allow_none=True)
    valid_from = fields.DateTime(allow_none=True)
    valid_until = fields.DateTime(allow_none=True)
    valid_days = fields.Integer(allow_none=True)
    per_member_limit = fields.Integer(allow_none=True)
    is_transferable = fields.Boolean()
    is_stackable = fields.Boolean()
    max_transfer_chain = fields.Integer()
    is_active = fields.Boolean()
    created_at = fields.DateTime()


class CouponTemplateList(Schema):
    templates = fields.List(fields.Nested(CouponTemplateOut))


class CouponTemplateBrief(Schema):
    id = fields.Integer()
    name = fields.String()
    name_en = fields.String()
    kind = fields.Function(lambda t: t.kind.label)
    terms = fields.Function(lambda t: service.terms(t).zh)
    terms_en = fields.Function(lambda t: service.terms(t).en)
    is_transferable = fields.Boolean()
    is_stackable = fields.Boolean()
    max_transfer_chain = fields.Integer()


# --- coupons ---------------------------------------------------------------------------------

class CouponIssueIn(Schema):
    template_id = Id(required=True)
    idempotency_key = fields.String(required=True, validate=KEY)


class CouponTransferIn(Schema):
    """To another member of the same merchant, by id or by phone (exactly one)."""

    to_member_id = Id()
    to_phone = fields.String(validate=validate.Regexp(r"^(\+[0-9]{4,19}|[0-9]{5,20})$", error="Not a phone number."))
    idempotency_key = fields.String(required=True, validate=KEY)


class CouponQuery(Schema):
    state = fields.String(validate=validate.OneOf([s.label for s in CouponStatus]))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class CouponLookupQuery(Schema):
    code = fields.String(required=True, validate=CODE)


class CouponOut(Schema):
    id = fields.Integer()
    code = fields.String()
    member_id = fields.Integer()
    template_id = fields.Integer()
    template = fields.Nested(CouponTemplateBrief)
    state = fields.Function(lambda c: c.state.label)
    source = fields.Function(lambda c: c.source.label)
    issued_at = fields.DateTime()
    expires_at = fields.DateTime()
    transfer_depth = fields.Integer()
    transferred_from_id = fields.Integer(allow_none=True)
    transferred_to_id = fields.Integer(allow_none=True)
    redeemed_order_id = fields.Integer(allow_none=True)
    redeemed_at = fields.DateTime(allow_none=True)


class CouponList(Schema):
    coupons = fields.List(fields.Nested(CouponOut))


class CouponEventOut(Schema):
    id = fields.Integer()
    kind = fields.Function(lambda e: e.kind.label)
    member_id = fields.Integer()
    order_id = fields.Integer(allow_none=True)
    staff_id = fields.Integer(allow_none=True)
    store_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class CouponDetail(CouponOut):
    events = fields.Function(lambda c: CouponEventOut(many=True).dump(service.events_of(c)))


class CouponTransferOut(Schema):
    sent = fields.Nested(CouponOut)
    received = fields.Nested(CouponOut)

