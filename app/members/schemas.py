from marshmallow import fields, pre_load, validate, validates_schema

from app.api import Cents, Id, PositiveCents, QueryId, Schema
from app.members.models import Account, Gender
from app.payments.schemas import AUTH_CODE, check_wechat_tender, refuse_auth_code_off_wechat
from tablerules import members as member_rules

# At most 20 characters with the "+", as the column holds.
PHONE = validate.Regexp(member_rules.PHONE_PATTERN, error="Not a phone number.")
KEY = validate.Length(min=8, max=100)


class StoredValueOut(Schema):
    total_cents = fields.Integer()
    principal_cents = fields.Integer()
    bonus_cents = fields.Integer()


class TierOut(Schema):
    id = fields.Integer()
    name = fields.String()
    name_en = fields.String()
    rank = fields.Integer()
    discount_percent = fields.Integer()
    points_multiplier_percent = fields.Integer()
    spend_threshold_cents = fields.Integer(allow_none=True)
    topup_threshold_cents = fields.Integer(allow_none=True)


class TierBrief(Schema):
    id = fields.Integer()
    name = fields.String()
    name_en = fields.String()
    discount_percent = fields.Integer()
    points_multiplier_percent = fields.Integer()


class CardOut(Schema):
    id = fields.Integer()
    card_no = fields.String()
    status = fields.Function(lambda card: card.status.name.lower())
    created_at = fields.DateTime()
    status_changed_at = fields.DateTime()
    replaced_by_id = fields.Integer(allow_none=True)


class MemberSummary(Schema):
    id = fields.Integer()
    member_no = fields.String()
    phone = fields.String()
    name = fields.String()
    birthday = fields.Date(allow_none=True)
    gender = fields.Function(lambda m: m.gender.name.lower())
    tier = fields.Nested(TierBrief)
    stored_value = fields.Function(lambda m: {"total_cents": m.stored_value_cents,
                                              "principal_cents": m.principal_cents, "bonus_cents": m.bonus_cents})
    points = fields.Integer()
    tags = fields.List(fields.String())
    notes = fields.String()
    source_store_id = fields.Integer(allow_none=True)
    source_table_id = fields.Integer(allow_none=True)
    source_campaign = fields.String(allow_none=True)
    has_wechat = fields.Function(lambda m: m.openid is not None)
    created_at = fields.DateTime()


class MemberOut(MemberSummary):
    cards = fields.List(fields.Nested(CardOut))


class MemberCreate(Schema):
    phone = fields.String(required=True, validate=PHONE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    birthday = fields.Date(load_default=None)
    gender = fields.String(load_default="unknown", validate=validate.OneOf([g.name.lower() for g in Gender]))
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=20)), load_default=list,
                       validate=validate.Length(max=20))
    notes = fields.String(load_default="", validate=validate.Length(max=1000), metadata={"multiline": True})
    source_store_id = Id(load_default=None, allow_none=True)


class MemberUpdate(Schema):
    name = fields.String(validate=validate.Length(min=1, max=60))
    birthday = fields.Date(allow_none=True)
    gender = fields.String(validate=validate.OneOf([g.name.lower() for g in Gender]))
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=20)), validate=validate.Length(max=20))
    notes = fields.String(validate=validate.Length(max=1000), metadata={"multiline": True})


class MemberSearch(Schema):
    q = fields.String(load_default="", validate=validate.Length(max=60))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**7))


class MemberList(Schema):
    members = fields.List(fields.Nested(MemberSummary))
    total = fields.Integer()


class MemberLookup(Schema):
    phone = fields.String(validate=PHONE)
    card_no = fields.String(validate=validate.Length(min=1, max=32))
    member_no = fields.String(validate=validate.Regexp(r"^[0-9]{10}$"))
    code = fields.String(validate=validate.Length(min=1, max=40))


class TopUpIn(Schema):
    amount_cents = PositiveCents(required=True)
    tender = fields.String(required=True, validate=validate.OneOf(["cash", "wechat"]))
    idempotency_key = fields.String(required=True, validate=KEY)
    auth_code = fields.String(validate=AUTH_CODE, metadata={
        "description": "wechat: the payment code on the member's phone, scanned at the till (MICROPAY)"})
    trade_type = fields.String(validate=validate.OneOf(["NATIVE", "JSAPI"]), metadata={
        "description": "wechat: NATIVE (QR code to scan) or JSAPI (with openid); answers 202"})
    openid = fields.String(validate=validate.Length(min=1, max=64))

    @pre_load
    def _no_auth_code(self, data, **kwargs):
        refuse_auth_code_off_wechat(data, kind_field="tender")
        return data

    @validates_schema
    def _wechat_fields(self, data, **kwargs):
        check_wechat_tender(data, kind_field="tender")


class TopUpOut(Schema):
    topup_id = fields.Integer()
    principal_cents = fields.Integer()
    bonus_cents = fields.Integer()
    stored_value = fields.Nested(StoredValueOut)
    tier = fields.Nested(TierBrief)
    slip = fields.Dict(metadata={"description": "the top-up slip (充值凭条) to print: a "
                                                "`tablerules.documents.TopUpSlip`, kind `topup`"})


class ReasonIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=2, max=200))
    idempotency_key = fields.String(required=True, validate=KEY)


class CashOutIn(ReasonIn):
    amount_cents = PositiveCents(load_default=None, allow_none=True)


class CashOutOut(Schema):
    paid_cents = fields.Integer()
    bonus_forfeited_cents = fields.Integer()
    stored_value = fields.Nested(StoredValueOut)


class AdjustIn(ReasonIn):
    account = fields.String(required=True, validate=validate.OneOf([a.label for a in Account]))
    delta = Cents(required=True)


class EntryOut(Schema):
    id = fields.Integer()
    account = fields.Function(lambda e: e.account.label)
    delta = fields.Integer()
    balance_after = fields.Integer()
    kind = fields.Function(lambda e: e.kind.label)
    order_id = fields.Integer(allow_none=True)
    note = fields.String()
    created_at = fields.DateTime()


class LedgerQuery(Schema):
    account = fields.String(validate=validate.OneOf([a.label for a in Account]))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    before_id = QueryId(metadata={"description": "the last id of the previous page"})


class LedgerOut(Schema):
    entries = fields.List(fields.Nested(EntryOut))


class VisitOut(Schema):
    id = fields.Integer()
    order_id = fields.Integer()
    store_id = fields.Integer(allow_none=True)
    visited_at = fields.DateTime()
    paid_cents = fields.Integer()
    refunded_cents = fields.Integer()
    stored_value_cents = fields.Integer()
    points_earned = fields.Integer()
    points_redeemed = fields.Integer()
    items = fields.List(fields.Dict())
    tenders = fields.List(fields.Dict())


class VisitList(Schema):
    visits = fields.List(fields.Nested(VisitOut))


class CardIn(Schema):
    card_no = fields.String(required=True, validate=validate.Regexp(r"^[0-9A-Za-z]{4,32}$"))


class TierIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=30))
    name_en = fields.String(load_default="", validate=validate.Length(max=30))
    rank = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=20))
    discount_percent = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=100))
    points_multiplier_percent = fields.Integer(load_default=100, strict=True, validate=validate.Range(min=0, max=1000))
    spend_threshold_cents = PositiveCents(load_default=None, allow_none=True)
    topup_threshold_cents = PositiveCents(load_default=None, allow_none=True)


class TierList(Schema):
    tiers = fields.List(fields.Nested(TierOut))


class TiersIn(Schema):
    tiers = fields.List(fields.Nested(TierIn), required=True, validate=validate.Length(min=1, max=20))


class TopUpRuleSchema(Schema):
    min_cents = PositiveCents(required=True)
    bonus_cents = Cents(required=True, validate=validate.Range(min=0, max=10**12))
    is_repeat = fields.Boolean(load_default=False)


class TopUpRules(Schema):
    rules = fields.List(fields.Nested(TopUpRuleSchema), required=True, validate=validate.Length(max=20))


class SettingsSchema(Schema):
    points_per_yuan = fields.Integer(strict=True, validate=validate.Range(min=0, max=1000))
    earning_tenders = fields.List(fields.String(validate=validate.OneOf(["cash", "stored_value", "wechat"])))
    points_expiry_kind = fields.String(validate=validate.OneOf(["days", "end_of_month_after",
                                                                "end_of_year_after", "never"]))
    points_expiry_days = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=3650))
    points_expiry_months = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=120))
    cents_per_point = fields.Integer(strict=True, validate=validate.Range(min=1, max=10000))
    max_points_share_percent = fields.Integer(strict=True, validate=validate.Range(min=0, max=100))
