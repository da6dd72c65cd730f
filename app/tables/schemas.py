from marshmallow import ValidationError, fields, validate, validates_schema

from app.api import Flag, Id, Schema, Text
from app.tables import service

SEATS = validate.Range(min=1, max=99)
SORT_ORDER = validate.Range(min=-100_000, max=100_000)
TABLE_CODE = validate.Regexp(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,9}$",
                             error="A table code is up to 10 letters, digits, - and _ (e.g. A01).")


class AreaIn(Schema):
    name = Text(30, required=True)
    name_en = Text(60, allow_blank=True, load_default="")
    sort_order = fields.Integer(strict=True, validate=SORT_ORDER, load_default=None)


class AreaOut(Schema):
    id = fields.Integer()
    store_id = fields.Integer()
    name = fields.String()
    name_en = fields.String()
    sort_order = fields.Integer()


class TableIn(Schema):
    code = fields.String(required=True, validate=TABLE_CODE)
    seats = fields.Integer(strict=True, validate=SEATS, load_default=4)
    area_id = Id(allow_none=True, load_default=None)


class TableUpdate(Schema):
    code = fields.String(validate=TABLE_CODE)
    seats = fields.Integer(strict=True, validate=SEATS)
    area_id = Id(allow_none=True)
    is_active = Flag()

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("Give at least one field to change.")


class TableOut(Schema):
    id = fields.Integer()
    store_id = fields.Integer()
    area_id = fields.Integer(allow_none=True)
    area = fields.Function(lambda table: table.area.name if table.area else None)
    code = fields.String()
    seats = fields.Integer()
    is_active = fields.Boolean()
    state = fields.Function(lambda table: table.state.label)
    qr_url = fields.Function(service.table_url, metadata={"description": "What the table's QR code says."})


class TableList(Schema):
    areas = fields.List(fields.Nested(AreaOut))
    tables = fields.List(fields.Nested(TableOut))


class RotateIn(Schema):
    confirm = Flag(required=True, validate=validate.Equal(True, error="Send true to confirm."),
                   metadata={"description": "Every printed table QR code of every store stops working."})


class RotateOut(Schema):
    rotated_at = fields.DateTime()
