from marshmallow import fields, validate

from app.api import Schema
from tablerules.tags import KINDS, MAX_TAG_LENGTH

TAG = fields.String(validate=validate.Length(min=1, max=MAX_TAG_LENGTH))


class MemberTagOut(Schema):
    tag = fields.String()
    source = fields.Function(lambda row: row.source.label, metadata={"enum": ["hand", "rule"]})
    rule_ids = fields.List(fields.Integer())


class MemberTagsOut(Schema):
    member_id = fields.Integer()
    hand = fields.List(fields.String())
    tags = fields.List(fields.Nested(MemberTagOut))


class HandTagsIn(Schema):
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=MAX_TAG_LENGTH)), required=True,
                       validate=validate.Length(max=20))


class TagCount(Schema):
    tag = fields.String()
    members = fields.Integer()


class TagList(Schema):
    tags = fields.List(fields.Nested(TagCount))


class TagMembersQuery(Schema):
    tag = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TAG_LENGTH))
    source = fields.String(load_default=None, validate=validate.OneOf(["hand", "rule"]))


class TaggedMember(Schema):
    id = fields.Integer()
    member_no = fields.String()
    name = fields.String()
    phone = fields.String()


class TagMembersOut(Schema):
    tag = fields.String()
    members = fields.List(fields.Nested(TaggedMember))


class TagRuleParams(Schema):
    min_cents = fields.Integer(validate=validate.Range(min=1, max=10**11))
    days = fields.Integer(validate=validate.Range(min=0, max=3650))
    dish = fields.String(validate=validate.Length(min=1, max=60))
    min_count = fields.Integer(validate=validate.Range(min=1, max=10_000))
    table = fields.String(validate=validate.Length(min=1, max=20))
    min_visits = fields.Integer(validate=validate.Range(min=1, max=10_000))


class TagRuleIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    tag = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TAG_LENGTH))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    params = fields.Nested(TagRuleParams, required=True)


class TagRuleOut(Schema):
    id = fields.Integer()
    name = fields.String()
    tag = fields.String()
    kind = fields.String()
    params = fields.Dict()
    is_active = fields.Boolean()
    created_at = fields.DateTime()


class TagRuleList(Schema):
    rules = fields.List(fields.Nested(TagRuleOut))
