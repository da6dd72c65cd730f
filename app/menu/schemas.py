from marshmallow import ValidationError, fields, validate, validates_schema

from app.api import Flag, NonNegativeCents, QueryId, Schema, Text

SORT_ORDER = validate.Range(min=-100_000, max=100_000)
STATION = validate.Regexp(r"^[a-z][a-z0-9_]{0,19}$", error="A station code is lower-case letters, digits and _.")


def _image_url(value: str) -> None:
    """A dish photo: an https address (the pages allow images from any https host, and a plain
    http one would be refused on the diner's https page), or a path on this site."""
    if value:
        validate.URL(relative=True, require_tld=False, schemes={"https"},
                     error="A dish photo needs an https:// address, or a path on this site.")(value)


# --- categories ------------------------------------------------------------------------------

class CategoryIn(Schema):
    name = Text(40, required=True)
    name_en = Text(80, allow_blank=True, load_default="")
    sort_order = fields.Integer(strict=True, validate=SORT_ORDER, load_default=None)


class CategoryOut(Schema):
    id = fields.Integer()
    name = fields.String()
    name_en = fields.String()
    sort_order = fields.Integer()


class CategoryList(Schema):
    categories = fields.List(fields.Nested(CategoryOut))


# --- kitchen stations --------------------------------------------------------------------------

class StationIn(Schema):
    """PUT /menu/stations/{code}: the name the staff call the station (热菜, 凉菜, 吧台 …)."""

    name = Text(20, required=True)
    name_en = Text(40, allow_blank=True, load_default="")
    sort_order = fields.Integer(strict=True, validate=SORT_ORDER, load_default=None,
                                metadata={"description": "its place in lists; none: a new one goes last"})


class StationOut(Schema):
    code = fields.String()
    name = fields.String(metadata={"description": "The store's own name; the code when none is set"})
    name_en = fields.String()
    sort_order = fields.Integer()
    dishes = fields.Integer(metadata={"description": "Dishes cooked at this station"})
    is_named = fields.Boolean(metadata={"description": "Whether a name was set (false: shown as its code)"})


class StationList(Schema):
    stations = fields.List(fields.Nested(StationOut))


# --- options ---------------------------------------------------------------------------------

class OptionChoiceIn(Schema):
    name = Text(30, required=True)
    name_en = Text(60, allow_blank=True, load_default="")
    price_delta_cents = NonNegativeCents(load_default=0)


class OptionGroupIn(Schema):
    name = Text(30, required=True)
    name_en = Text(60, allow_blank=True, load_default="")
    is_required = Flag(load_default=False)
    max_choices = fields.Integer(strict=True, validate=validate.Range(min=1, max=30), load_default=1)
    choices = fields.List(fields.Nested(OptionChoiceIn), required=True, validate=validate.Length(min=1, max=30))

    @validates_schema
    def _choices_fit(self, data, **kwargs):
        names = [choice["name"] for choice in data.get("choices", [])]
        if len(set(names)) != len(names):
            raise ValidationError("Each choice needs its own name.", "choices")
        if names and data.get("max_choices", 1) > len(names):
            raise ValidationError("Cannot be more than the number of choices.", "max_choices")


class OptionChoiceOut(Schema):
    id = fields.Integer()
    name = fields.String()
    name_en = fields.String()
    price_delta_cents = fields.Integer()


class OptionGroupOut(Schema):
    id = fields.Integer()
    name = fields.String()
    name_en = fields.String()
    is_required = fields.Boolean()
    max_choices = fields.Integer()
    choices = fields.List(fields.Nested(OptionChoiceOut))


# --- dishes ----------------------------------------------------------------------------------

class DishIn(Schema):
    """POST /menu/dishes (API.md): the category is given by name and created if new."""

    name = Text(60, required=True)
    price_cents = NonNegativeCents(required=True)
    category = Text(40, required=True)
    discountable = Flag(load_default=True, attribute="is_discountable")
    station = fields.String(validate=STATION, load_default="hot")
    name_en = Text(120, allow_blank=True, load_default="")
    unit = Text(10, load_default="份")
    image_url = fields.String(validate=[validate.Length(max=500), _image_url], load_default="")
    sort_order = fields.Integer(strict=True, validate=SORT_ORDER, load_default=0)


class DishUpdate(Schema):
    name = Text(60)
    price_cents = NonNegativeCents()
    category = Text(40)
    discountable = Flag(attribute="is_discountable")
    station = fields.String(validate=STATION)
    name_en = Text(120, allow_blank=True)
    unit = Text(10)
    image_url = fields.String(validate=[validate.Length(max=500), _image_url])
    sort_order = fields.Integer(strict=True, validate=SORT_ORDER)
    is_active = Flag()

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("Give at least one field to change.")


class DishOut(Schema):
    id = fields.Integer()
    name = fields.String()
    name_en = fields.String()
    price_cents = fields.Integer()
    category_id = fields.Integer()
    category = fields.String(attribute="category.name")
    discountable = fields.Boolean(attribute="is_discountable")
    station = fields.String()
    unit = fields.String()
    image_url = fields.String()
    sort_order = fields.Integer()
    is_active = fields.Boolean()
    options = fields.List(fields.Nested(OptionGroupOut), attribute="option_groups")


# --- the menu of a store -----------------------------------------------------------------------

class MenuQuery(Schema):
    store_id = QueryId(required=True)
    include_inactive = fields.Boolean(load_default=False)


class MenuDishOut(DishOut):
    is_sold_out = fields.Boolean()


class MenuSectionOut(CategoryOut):
    dishes = fields.List(fields.Nested(MenuDishOut))


class MenuOut(Schema):
    store_id = fields.Integer()
    categories = fields.List(fields.Nested(MenuSectionOut))


class SoldOutIn(Schema):
    is_sold_out = Flag(required=True)


class SoldOutOut(Schema):
    store_id = fields.Integer()
    dish_id = fields.Integer()
    is_sold_out = fields.Boolean()
    updated_at = fields.DateTime()


class SoldOutList(Schema):
    store_id = fields.Integer()
    dish_ids = fields.List(fields.Integer())


class CategoryUpdate(Schema):
    name = Text(40)
    name_en = Text(80, allow_blank=True)
    sort_order = fields.Integer(strict=True, validate=SORT_ORDER)

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("Nothing to change.")
