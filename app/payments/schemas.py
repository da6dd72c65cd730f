from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import url_for
from flask_babel import gettext
from marshmallow import ValidationError, fields, pre_load, validate, validates_schema

from app.api import Id, PositiveCents, Schema
from app.errors import Unprocessable
from tablerules.tenders import TenderType

if TYPE_CHECKING:
    from app.payments.service import Opened

KEY = validate.Length(min=8, max=100)
AUTH_CODE = validate.Regexp(r"^[0-9]{10,32}$")
# The tenders a payment code never belongs to, by their API labels (what a body carries).
NOT_WECHAT = tuple(t.label for t in TenderType if t is not TenderType.WECHAT)


class AuthCodeNotAllowed(Unprocessable):
    error_code = "auth_code_not_allowed"


def refuse_auth_code_off_wechat(tender: object, kind_field: str = "type") -> None:
    """A payment code pays only a WeChat tender. A cash or stored-value tender carrying one means
    the till scanned the diner's code into the wrong tender: refused under its own code, before
    anything is read or charged, so the till can say so instead of "some fields are not valid"."""
    if isinstance(tender, dict) and tender.get(kind_field) in NOT_WECHAT and "auth_code" in tender:
        raise AuthCodeNotAllowed(gettext("A payment code can only pay a WeChat tender."),
                                 details={"tender": tender[kind_field]})


def check_wechat_tender(data: dict, kind_field: str = "type") -> None:
    """A WeChat tender is either a payment code (`auth_code`, charged at the till) or a trade
    type (NATIVE, or JSAPI with the payer's `openid`); other tenders have none of these."""
    given = [name for name in ("auth_code", "trade_type", "openid") if data.get(name) is not None]
    kind = data.get(kind_field)  # a TenderType once loaded; a top-up names its tender by label
    if kind is not TenderType.WECHAT and kind != TenderType.WECHAT.label:
        if given:
            raise ValidationError({name: ["Only for WeChat Pay."] for name in given})
        return
    if ("auth_code" in given) == ("trade_type" in given):
        raise ValidationError({"auth_code": ["Give auth_code (payment code) or trade_type, one of them."]})
    if data.get("trade_type") == "JSAPI" and "openid" not in given:
        raise ValidationError({"openid": ["JSAPI needs the payer's openid."]})
    if data.get("trade_type") != "JSAPI" and "openid" in given:
        raise ValidationError({"openid": ["Only for JSAPI."]})


class TenderTypeField(fields.String):
    """A tender type: its label in JSON ("cash"), `tablerules.tenders.TenderType` in Python."""

    def __init__(self, *, choices: Iterable[TenderType] = tuple(TenderType), **kwargs) -> None:
        self.choices = tuple(choices)
        metadata = {**kwargs.pop("metadata", {}), "enum": [choice.label for choice in self.choices]}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> TenderType:
        label = super()._deserialize(value, attr, data, **kwargs)
        labels = [choice.label for choice in self.choices]
        if label not in labels:
            raise ValidationError(f"Must be one of: {', '.join(labels)}.")
        return TenderType.parse(label)

    def _serialize(self, value, attr, obj, **kwargs) -> str | None:
        return None if value is None else TenderType.parse(value).label


class OtherTenderIn(Schema):
    type = TenderTypeField(required=True, choices=(TenderType.CASH, TenderType.STORED_VALUE))
    amount_cents = PositiveCents(required=True)

    @pre_load
    def _no_auth_code(self, data, **kwargs):
        refuse_auth_code_off_wechat(data)
        return data


class WeChatPayIn(Schema):
    trade_type = fields.String(required=True, validate=validate.OneOf(["NATIVE", "JSAPI"]))
    openid = fields.String(load_default=None, validate=validate.Length(min=1, max=64),
                           metadata={"description": "JSAPI: the paying diner's openid"})
    member_id = Id(load_default=None, allow_none=True)
    points = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=10**12))
    coupon_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=10))
    tenders = fields.List(fields.Nested(OtherTenderIn), load_default=list, validate=validate.Length(max=9),
                          metadata={"description": "Other tenders; WeChat Pay collects what is left of the bill"})
    idempotency_key = fields.String(required=True, validate=KEY)

    @validates_schema
    def _openid_for_jsapi(self, data, **kwargs):
        if (data.get("trade_type") == "JSAPI") != (data.get("openid") is not None):
            raise ValidationError({"openid": ["Needed for JSAPI, and only there."]})


class DinerPayIn(Schema):
    order_id = Id(required=True)


class DinerSharePayIn(Schema):
    order_id = Id(required=True)
    share_ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=20))


class IntentOut(Schema):
    intent_id = fields.Integer()
    kind = fields.String(metadata={"description": "order | topup"})
    trade_type = fields.String(metadata={"description": "JSAPI | NATIVE | MICROPAY"})
    status = fields.String(metadata={"description": "pending | paid | failed | reversed | closed | "
                                                    "paid_unapplied | refunded"})
    amount_cents = fields.Integer()
    out_trade_no = fields.String()
    order_id = fields.Integer(allow_none=True)
    member_id = fields.Integer(allow_none=True)
    code_url = fields.String(allow_none=True, metadata={"description": "NATIVE: what the QR code says"})
    qr_svg_url = fields.String(allow_none=True)
    transaction_id = fields.String(allow_none=True)
    expires_at = fields.String(allow_none=True)
    paid_at = fields.String(allow_none=True)
    jsapi = fields.Dict(allow_none=True, metadata={"description": "JSAPI: getBrandWCPayRequest parameters"})


class DinerPaymentOut(Schema):
    intent_id = fields.Integer()
    status = fields.String()
    amount_cents = fields.Integer()
    order_status = fields.String()
    jsapi = fields.Dict(allow_none=True)


def intent_json(opened: Opened) -> dict:
    intent = opened.intent
    return {
        "intent_id": intent.id, "kind": intent.kind.label, "trade_type": intent.trade_type.label,
        "status": intent.status.label, "amount_cents": intent.amount_cents, "out_trade_no": intent.out_trade_no,
        "order_id": intent.order_id, "member_id": intent.member_id, "code_url": intent.code_url,
        "qr_svg_url": url_for("payments.intent_qr", intent_id=intent.id) if intent.code_url else None,
        "transaction_id": intent.transaction_id,
        "expires_at": intent.expires_at.isoformat() if intent.expires_at else None,
        "paid_at": intent.paid_at.isoformat() if intent.paid_at else None,
        "jsapi": opened.client_params,
    }
