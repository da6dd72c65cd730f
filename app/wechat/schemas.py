from marshmallow import fields

from app.api import Schema


class PushedBillOut(Schema):
    order_id = fields.Integer()
    bill_url = fields.String()
    payable_cents = fields.Integer()
    recipients = fields.Integer(metadata={"description": "Diners at the table (and the order's member) on WeChat."})
    sent_to = fields.Integer(metadata={"description": "Of them, those who did not have this bill yet."})


class FollowQrOut(Schema):
    url = fields.String(metadata={"description": "The image of the official account's QR code for this scene."})
    scene = fields.String()
