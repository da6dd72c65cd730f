from marshmallow import ValidationError, fields, pre_load, validate, validates_schema

from app.api import Id, PositiveCents, QueryId, QueryIdList, Schema
from app.payments.schemas import AUTH_CODE, TenderTypeField, check_wechat_tender, refuse_auth_code_off_wechat
from tablerules.tenders import TenderType

KEY = validate.Length(min=8, max=100)


class ItemIn(Schema):
    dish_id = Id(required=True)
    qty = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=99))
    option_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=10))
    note = fields.String(load_default="", validate=validate.Length(max=100))


class OrderCreate(Schema):
    store_id = Id(required=True)
    table = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=10))
    items = fields.List(fields.Nested(ItemIn), required=True, validate=validate.Length(min=1, max=100))
    idempotency_key = fields.String(required=True, validate=KEY)


class ItemsAdd(Schema):
    items = fields.List(fields.Nested(ItemIn), required=True, validate=validate.Length(min=1, max=100))
    idempotency_key = fields.String(required=True, validate=KEY)


class LineIds(Schema):
    line_ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=100))


class VoidIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=2, max=200))


class LineReduce(Schema):
    """Fewer of a dish not served yet (改单)."""

    qty = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=999))
    reason = fields.String(required=True, validate=validate.Length(min=2, max=200))


class RushOut(Schema):
    """催菜 recorded: the order's how-many-th rush."""

    order_id = fields.Integer()
    rush_no = fields.Integer()
    rushed_at = fields.String()
    rushed_by = fields.String()


class OrderLineOut(Schema):
    id = fields.Integer()
    dish_id = fields.Integer()
    name = fields.String()
    name_en = fields.String()
    qty = fields.Integer()
    unit_price_cents = fields.Integer()
    amount_cents = fields.Integer()
    options = fields.List(fields.Dict())
    note = fields.String()
    status = fields.Function(lambda line: line.status.label)
    station = fields.String()
    added_by = fields.String()
    void_reason = fields.String()


def _tenders(order) -> list[dict]:
    bill = order.charged_bill
    return [t.to_dict() for t in bill.tenders] if bill else []


class OrderOut(Schema):
    id = fields.Integer()
    store_id = fields.Integer()
    client_order_id = fields.String(allow_none=True)
    order_no = fields.Function(lambda order: str(order.id))
    tenders = fields.Function(_tenders)
    table = fields.String(attribute="table_code")
    status = fields.Function(lambda order: order.status.label)
    member_id = fields.Integer(allow_none=True)
    subtotal_cents = fields.Integer()
    discount_cents = fields.Integer()
    payable_cents = fields.Integer()
    paid_cents = fields.Integer()
    change_cents = fields.Integer()
    refunded_cents = fields.Integer()
    items = fields.List(fields.Nested(OrderLineOut), attribute="lines")
    created_at = fields.DateTime()
    paid_at = fields.DateTime(allow_none=True)


class OrderList(Schema):
    orders = fields.List(fields.Nested(OrderOut))


class OrderQuery(Schema):
    store_id = QueryId()
    client_order_id = fields.UUID(metadata={"description": "The till's id of an order made through the agent"})
    status = fields.String(validate=validate.OneOf(["open", "paid", "refunded", "voided"]))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    before_id = QueryId(metadata={"description": "newest first: the last id of the previous page"})


class BillQuery(Schema):
    member_id = QueryId(load_default=None)
    points = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**12))
    coupon_ids = QueryIdList(load_default=list)


class BillStepOut(Schema):
    kind = fields.String()
    label = fields.String()
    label_en = fields.String()
    amount_cents = fields.Integer()
    ref = fields.Integer(allow_none=True)


class BillOut(Schema):
    subtotal_cents = fields.Integer()
    discount_cents = fields.Integer()
    payable_cents = fields.Integer()
    lines = fields.List(fields.Nested(BillStepOut))
    tier_discount_cents = fields.Integer()
    coupon_discount_cents = fields.Integer()
    points_redeemed = fields.Integer()
    points_value_cents = fields.Integer()
    rounding_cents = fields.Integer()
    max_points_redeemable = fields.Integer()


class TenderIn(Schema):
    type = TenderTypeField(required=True)
    amount_cents = PositiveCents(required=True)
    auth_code = fields.String(validate=AUTH_CODE, metadata={
        "description": "wechat: the payment code on the diner's phone, scanned at the till (MICROPAY)"})
    trade_type = fields.String(validate=validate.OneOf(["NATIVE", "JSAPI"]), metadata={
        "description": "wechat: NATIVE (QR code for the diner to scan) or JSAPI (with openid); answers 202"})
    openid = fields.String(validate=validate.Length(min=1, max=64),
                           metadata={"description": "wechat JSAPI: the paying diner's openid"})

    @pre_load
    def _no_auth_code(self, data, **kwargs):
        refuse_auth_code_off_wechat(data)
        return data

    @validates_schema
    def _wechat_fields(self, data, **kwargs):
        check_wechat_tender(data)


class SettleIn(Schema):
    member_id = Id(load_default=None, allow_none=True)
    points = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=10**12))
    coupon_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=10))
    tenders = fields.List(fields.Nested(TenderIn), required=True, validate=validate.Length(min=1, max=10))
    idempotency_key = fields.String(required=True, validate=KEY)

    @validates_schema
    def _one_wechat_tender(self, data, **kwargs):
        if sum(1 for t in data.get("tenders", []) if t.get("type") is TenderType.WECHAT) > 1:
            raise ValidationError({"tenders": ["At most one WeChat tender."]})


class SettleOut(Schema):
    id = fields.Integer()
    status = fields.String()
    subtotal_cents = fields.Integer()
    discount_cents = fields.Integer()
    payable_cents = fields.Integer()
    paid_cents = fields.Integer()
    change_cents = fields.Integer()
    lines = fields.List(fields.Nested(BillStepOut))
    points_earned = fields.Integer()
    member = fields.Dict(allow_none=True)


class RefundLine(Schema):
    line_id = Id(required=True)
    qty = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=99))


class RefundIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=2, max=200))
    idempotency_key = fields.String(required=True, validate=KEY)
    lines = fields.List(fields.Nested(RefundLine), load_default=None, validate=validate.Length(min=1, max=100),
                        metadata={"description": "Refund only these lines (partial refund); omit for the whole order"})


class RefundOut(Schema):
    id = fields.Integer()
    status = fields.String()
    refunded_cents = fields.Integer()
    total_refunded_cents = fields.Integer()


class TicketOut(Schema):
    """A kitchen ticket as the store event log carries it (`tablerules.documents.KitchenTicket`)."""

    kind = fields.String()
    document_id = fields.String()
    version = fields.Integer()
    contract = fields.Integer()
    ticket_id = fields.Integer()
    ticket_no = fields.String()
    order_id = fields.Integer()
    order_no = fields.String()
    station = fields.String()
    table = fields.String()
    status = fields.String()
    mark = fields.String(metadata={"description": "new, add (加菜), change or cancel (退菜)"})
    created_at = fields.String()
    reason = fields.String()
    items = fields.List(fields.Dict())


class TicketList(Schema):
    tickets = fields.List(fields.Nested(TicketOut))


class TicketQuery(Schema):
    status = fields.String(load_default="open", validate=validate.OneOf(["open", "bumped"]))
    station = fields.String(validate=validate.Length(max=20))


class CartAdd(ItemIn):
    diner = fields.String(load_default="", validate=validate.Length(max=30))


class CartChange(Schema):
    qty = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=99))
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**31 - 1))


class CartOut(Schema):
    session_id = fields.Integer(allow_none=True)  # none before the table's first line
    table_id = fields.Integer()
    version = fields.Integer()
    order_id = fields.Integer(allow_none=True)
    total_cents = fields.Integer()
    lines = fields.List(fields.Dict())


class ShiftQuery(Schema):
    opening_float_cents = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))


class ShiftCloseIn(Schema):
    opening_float_cents = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=10**9))
    counted_cash_cents = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=10**11))
    idempotency_key = fields.String(required=True, validate=KEY)


class ShiftOut(Schema):
    store_id = fields.Integer()
    staff_id = fields.Integer()
    opened_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    summary = fields.Dict()
    counted_cash_cents = fields.Integer(allow_none=True)
    difference_cents = fields.Integer(allow_none=True)


class TableMoveIn(Schema):
    to_table_id = Id(required=True)
    idempotency_key = fields.String(required=True, validate=KEY)


class TableMergeIn(Schema):
    into_table_id = Id(required=True)
    idempotency_key = fields.String(required=True, validate=KEY)
