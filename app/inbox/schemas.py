from marshmallow import fields, validate

from app.api import Schema


class ConversationOut(Schema):
    id = fields.Integer()
    store_id = fields.Integer()
    openid = fields.String()
    member_id = fields.Integer(allow_none=True)
    assigned_staff_id = fields.Integer(allow_none=True)
    unread_count = fields.Integer()
    last_message_at = fields.DateTime()
    last_inbound_at = fields.DateTime(allow_none=True)
    reply_until = fields.DateTime(allow_none=True)
    can_reply = fields.Boolean()
    last_preview = fields.String()


class ConversationList(Schema):
    conversations = fields.List(fields.Nested(ConversationOut))
    unread = fields.Integer()


class MessageOut(Schema):
    id = fields.Integer()
    direction = fields.Function(lambda m: m.direction.name.lower(), metadata={"enum": ["in", "out", "auto"]})
    kind = fields.Function(lambda m: m.kind.label, metadata={"enum": ["text", "image"]})
    text = fields.String()
    image_url = fields.String(allow_none=True)
    staff_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class MessageList(Schema):
    conversation = fields.Nested(ConversationOut)
    messages = fields.List(fields.Nested(MessageOut))


class ReplyIn(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=600))
    idempotency_key = fields.String(required=True, validate=validate.Length(min=8, max=80))


class AssignIn(Schema):
    staff_id = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=1, max=2**31 - 1))
