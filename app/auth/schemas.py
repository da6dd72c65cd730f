import re

from marshmallow import fields, validate

from app.api import Id, QueryId, Schema
from app.auth.permissions import Role

ROLE_LABELS = [role.label for role in Role]
STAFF_CARD = r"^[0-9A-Fa-f]{4,20}$"


class TokenRequest(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=60))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))


class StaffOut(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.Function(lambda staff: staff.role.label)
    merchant_id = fields.Integer()
    store_id = fields.Integer(allow_none=True)
    is_active = fields.Boolean()
    has_card = fields.Function(lambda staff: staff.card_no is not None,
                               metadata={"description": "a staff card is set (its number is never shown)"})


class TokenStaff(Schema):
    id = fields.Integer()
    role = fields.Function(lambda staff: staff.role.label)
    merchant_id = fields.Integer()
    store_id = fields.Integer(allow_none=True)


class TokenOut(Schema):
    token = fields.String()
    expires_at = fields.DateTime()
    staff = fields.Nested(TokenStaff)


class StaffCreate(Schema):
    username = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.@-]{3,60}$"))
    password = fields.String(required=True, validate=validate.Length(min=8, max=200))
    role = fields.String(required=True, validate=validate.OneOf(ROLE_LABELS))
    store_id = Id(allow_none=True, load_default=None)
    display_name = fields.String(load_default="", validate=validate.Length(max=60))


class StaffUpdate(Schema):
    display_name = fields.String(validate=validate.Length(max=60))
    role = fields.String(validate=validate.OneOf(ROLE_LABELS),
                         metadata={"description": "Another role (with store_id for cashier and kitchen)"})
    store_id = Id(allow_none=True, metadata={"description": "The store of a cashier or kitchen account"})
    password = fields.String(validate=validate.Length(min=8, max=200))
    locale = fields.String(validate=validate.OneOf(["zh_CN", "en"]))
    card_no = fields.String(allow_none=True, validate=validate.Regexp(STAFF_CARD),
                            metadata={"description": "the staff card's number as the reader gives it (hex or the "
                                      "printed digits); null takes the card away"})


class CardApprovalIn(Schema):
    card_nos = fields.List(fields.String(validate=validate.Regexp(STAFF_CARD)), required=True,
                           validate=validate.Length(min=1, max=2),
                           metadata={"description": "the swiped card, as hex and as its printed digits"})


class UnlockOut(Schema):
    staff_id = fields.Integer()
    was_locked = fields.Boolean()


class StaffList(Schema):
    staff = fields.List(fields.Nested(StaffOut))


# A store's name is printed on receipts and sent to WeChat Pay inside XML: no markup that ends
# an XML section (control characters are refused for every text field by app.api.Schema).
STORE_NAME = [validate.Length(min=1, max=100),
              validate.Regexp(r"^(?!.*\]\]>)", flags=re.DOTALL, error="Must not contain \"]]>\".")]


class StoreIn(Schema):
    name = fields.String(required=True, validate=STORE_NAME)
    address = fields.String(load_default="", validate=validate.Length(max=200))
    phone = fields.String(load_default="", validate=validate.Length(max=30))


class StoreUpdate(Schema):
    name = fields.String(validate=STORE_NAME)
    address = fields.String(validate=validate.Length(max=200))
    phone = fields.String(validate=validate.Length(max=30))
    is_active = fields.Boolean()
    offline_allowance_cents = fields.Integer(
        validate=validate.Range(min=0, max=10**9),
        metadata={"description": "Stored value a member may spend while the store's agent is offline "
                                 "(never more than their balance); default 20000"})
    # Diner picks wait for a waiter's confirmation before they reach the kitchen.
    diner_orders_need_confirmation = fields.Boolean(attribute="is_waiter_confirm")
    rounding = fields.String(validate=validate.OneOf(["none", "to_jiao", "to_yuan"]),
                             metadata={"description": "抹零: the payable rounded down to whole jiao or yuan, or not"})


class StoreOut(Schema):
    id = fields.Integer()
    name = fields.String()
    address = fields.String()
    phone = fields.String()
    is_active = fields.Boolean()
    offline_allowance_cents = fields.Integer()
    diner_orders_need_confirmation = fields.Boolean(attribute="is_waiter_confirm")
    rounding = fields.String()


class StoreList(Schema):
    stores = fields.List(fields.Nested(StoreOut))


class DeviceCreate(Schema):
    store_id = Id(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=60))


class DeviceOut(Schema):
    id = fields.Integer()
    store_id = fields.Integer()
    name = fields.String()
    is_active = fields.Boolean()
    created_at = fields.DateTime()
    last_seen_at = fields.DateTime(allow_none=True)
    status = fields.Dict(allow_none=True, metadata={"description": "The agent's last status report"})


class DeviceCreated(DeviceOut):
    token = fields.String(metadata={"description": "Shown once; store it in the agent's YAML."})


class DeviceList(Schema):
    devices = fields.List(fields.Nested(DeviceOut))


class AuditOut(Schema):
    id = fields.Integer()
    created_at = fields.DateTime()
    store_id = fields.Integer(allow_none=True)
    staff_id = fields.Integer(allow_none=True)
    device_id = fields.Integer(allow_none=True)
    action = fields.String()
    object_type = fields.String()
    object_id = fields.Integer(allow_none=True)
    details = fields.Dict()
    ip = fields.String(allow_none=True)


class AuditQuery(Schema):
    object_type = fields.String(validate=validate.Length(max=40))
    object_id = QueryId()
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    before_id = QueryId(metadata={"description": "newest first: the last id of the previous page"})
    staff_id = QueryId(metadata={"description": "Only what this staff member did"})
    action = fields.String(validate=validate.Length(max=60),
                           metadata={"description": "Only this kind (`dish.sold_out`), or a family ending in a dot "
                                                    "(`dish.`)"})


class AuditList(Schema):
    entries = fields.List(fields.Nested(AuditOut))
