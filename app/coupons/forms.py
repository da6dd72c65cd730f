"""Forms of the manager's coupon pages: the template editor and the issue form on a member's page.

Amounts are typed in yuan (`tablerules.money.parse_yuan`), a percent coupon's discount the way the tier
editor takes it (8.8 for 8.8折), dates as calendar days in the merchant's time zone. The form only
reads text; whether a template makes sense is for the coupon rules to say (through
`service.create_template` / `update_template`), and `show_refusal` puts their answer beside the
field it is about.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import lazy_gettext, to_user_timezone, to_utc
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError

from app.coupons.models import CouponTemplate, TemplateKind
from app.errors import APIError
from app.members.forms import check_yuan, parse_zhe, yuan_or_none
from tablerules.money import to_yuan, zhe

KEY_RE = r"^[0-9a-f]{32}$"

KIND_CHOICES = [
    SelectChoice(TemplateKind.CASH.label, lazy_gettext("Cash voucher: an amount off")),
    SelectChoice(TemplateKind.PERCENT.label, lazy_gettext("Discount: a percentage off")),
    SelectChoice(TemplateKind.FREE_DISH.label, lazy_gettext("Free dish: one dish on the house")),
]


def new_key() -> str:
    return uuid.uuid4().hex


# --- calendar days <-> stored times ------------------------------------------------------------

def start_of(day: date) -> datetime:
    """The first moment of a local calendar day, in UTC."""
    return to_utc(datetime.combine(day, time.min)).replace(tzinfo=UTC)


def first_day(moment: datetime) -> date:
    return to_user_timezone(moment).date()


def last_day(end: datetime) -> date:
    """The last local day before an exclusive end (midnight 1 July -> 30 June)."""
    return to_user_timezone(end - timedelta(microseconds=1)).date()


def _optional_int(value) -> int | None:
    return None if value in (None, "") else int(value)


def _check_day(form, field) -> None:
    if field.data is not None and not 2000 <= field.data.year <= 2200:
        raise ValidationError(lazy_gettext("Enter a date between the years 2000 and 2200."))


def _check_discount(form, field) -> None:
    if (field.data or "").strip():
        try:
            parse_zhe(field.data)
        except ValueError:
            raise ValidationError(lazy_gettext("Enter the discount as on a menu: 8.8 for 8.8折.")) from None


# --- the template editor -----------------------------------------------------------------------

# What the coupon rules say is wrong, put beside the field it is about, in words.
_PROBLEMS = {
    "a cash coupon needs value_cents > 0": ("value", lazy_gettext("Enter the amount off, such as 20.")),
    "percent_off must be 1..99": ("discount", lazy_gettext(
        "Enter a discount below 10折, such as 8.8 (%(off)s%% off).", off=12)),
    "cap_cents must be > 0 when set": ("cap", lazy_gettext("The amount must be more than zero.")),
    "a free-dish coupon needs dish_id": ("dish_id", lazy_gettext("Choose the dish the coupon gives.")),
    "set valid_until or valid_days": ("valid_days", lazy_gettext(
        "Give a last day, a number of days after issue, or both.")),
    "valid_from must be before valid_until": ("valid_until", lazy_gettext(
        "The last day cannot be before the first day.")),
}
# The service's names of the terms frozen once coupons were issued -> the fields that set them.
_TERM_FIELDS = {
    "kind": "kind", "value_cents": "value", "percent_off": "discount", "cap_cents": "cap",
    "min_spend_cents": "min_spend", "dish_id": "dish_id", "category_ids": "category_ids", "dish_ids": "dish_ids",
}

# Fields that count for some kinds only.
_CASH, _PERCENT, _FREE_DISH = (kind.label for kind in TemplateKind)
_FOR_KINDS = {"value": {_CASH}, "discount": {_PERCENT}, "cap": {_PERCENT}, "dish_id": {_FREE_DISH},
              "category_ids": {_CASH, _PERCENT}, "dish_ids": {_CASH, _PERCENT}}


class CouponTemplateForm(FlaskForm):
    name = StringField(lazy_gettext("Coupon name"), validators=[DataRequired(), Length(max=60)],
                       description=lazy_gettext("Shown on the bill and to the member, such as 新客满100减20."))
    name_en = StringField(lazy_gettext("English name"), validators=[Optional(), Length(max=120)])
    kind = RadioField(lazy_gettext("What the coupon gives"), choices=KIND_CHOICES, default=TemplateKind.CASH.label)
    value = StringField(lazy_gettext("Amount off (yuan)"), validators=[Length(max=20), check_yuan(positive=True)])
    discount = StringField(lazy_gettext("Discount (折)"), validators=[Length(max=10), _check_discount],
                           description=lazy_gettext("As on a menu: 8.8 means 8.8折 (%(off)s%% off).", off=12))
    cap = StringField(lazy_gettext("Takes off at most (yuan)"), validators=[Length(max=20), check_yuan(positive=True)],
                      description=lazy_gettext("Leave empty for no limit."))
    dish_id = SelectField(lazy_gettext("Dish given free"), coerce=_optional_int)
    min_spend = StringField(lazy_gettext("Minimum spend (yuan)"),
                            validators=[Length(max=20), check_yuan(positive=False)],
                            description=lazy_gettext("Counted on the dishes the coupon applies to; a free-dish "
                                                     "coupon counts the whole bill. Leave empty for none."))
    category_ids = SelectMultipleField(lazy_gettext("Categories"), coerce=int)
    dish_ids = SelectMultipleField(lazy_gettext("Dishes"), coerce=int)
    valid_from = DateField(lazy_gettext("First day"), validators=[Optional(), _check_day])
    valid_until = DateField(lazy_gettext("Last day"), validators=[Optional(), _check_day])
    valid_days = IntegerField(lazy_gettext("Days after issue"), validators=[Optional(), NumberRange(min=1, max=3650)])
    per_member_limit = IntegerField(lazy_gettext("At most per member"),
                                    validators=[Optional(), NumberRange(min=1, max=1000)],
                                    description=lazy_gettext("Leave empty for no limit."))
    is_transferable = BooleanField(lazy_gettext("Members may pass it on to another member"))
    max_transfer_chain = IntegerField(lazy_gettext("Times it may be passed on"),
                                      validators=[Optional(), NumberRange(min=0, max=20)], default=1)
    is_stackable = BooleanField(lazy_gettext("May be used on one bill together with other stackable coupons"))
    idempotency_key = HiddenField(validators=[Optional(), Regexp(KEY_RE)])

    def validate(self, extra_validators=None) -> bool:
        super().validate(extra_validators)
        for name, kinds in _FOR_KINDS.items():
            if self.kind.data not in kinds:  # left over from another kind: neither checked nor saved
                self[name].errors = []
        return not self.errors

    def set_menu(self, categories, dishes) -> None:
        """The merchant's menu as the choices of the dish picker and the scope; `menu` is the dishes
        by category, as the page lists them."""
        self.menu = [(category, [dish for dish in dishes if dish.category_id == category.id])
                     for category in categories]
        self.category_ids.choices = [(category.id, category.name) for category in categories]
        self.dish_ids.choices = [(dish.id, dish.name) for dish in dishes]
        self.dish_id.choices = [(None, "—"), *self.dish_ids.choices]

    def fill(self, template: CouponTemplate) -> None:
        """Show a saved template (a GET of the edit page)."""
        kind = template.kind
        self.name.data, self.name_en.data, self.kind.data = template.name, template.name_en, kind.label
        self.value.data = to_yuan(template.value_cents) if kind is TemplateKind.CASH else ""
        self.discount.data = zhe(template.percent_off) if template.percent_off is not None else ""
        self.cap.data = to_yuan(template.cap_cents) if template.cap_cents is not None else ""
        self.dish_id.data = template.dish_id
        self.min_spend.data = to_yuan(template.min_spend_cents) if template.min_spend_cents else ""
        self.category_ids.data = list(template.category_ids or [])
        self.dish_ids.data = list(template.dish_ids or [])
        self.valid_from.data = first_day(template.valid_from) if template.valid_from else None
        self.valid_until.data = last_day(template.valid_until) if template.valid_until else None
        self.valid_days.data = template.valid_days
        self.per_member_limit.data = template.per_member_limit
        self.is_transferable.data = template.is_transferable
        self.max_transfer_chain.data = template.max_transfer_chain
        self.is_stackable.data = template.is_stackable

    def values(self, saved: CouponTemplate | None = None) -> dict:
        """What `service.create_template` / `update_template` take. Only the fields of the chosen
        kind count (a switch of kind leaves the others' text behind). A day left as shown keeps
        the saved time, so saving a template set through the API does not move its window."""
        kind = TemplateKind.from_label(self.kind.data)
        is_free_dish = kind is TemplateKind.FREE_DISH
        valid_from = start_of(self.valid_from.data) if self.valid_from.data else None
        valid_until = start_of(self.valid_until.data + timedelta(days=1)) if self.valid_until.data else None
        if saved is not None:
            if saved.valid_from and self.valid_from.data == first_day(saved.valid_from):
                valid_from = saved.valid_from
            if saved.valid_until and self.valid_until.data == last_day(saved.valid_until):
                valid_until = saved.valid_until
        return {
            "name": self.name.data.strip(),
            "name_en": (self.name_en.data or "").strip(),
            "kind": kind,
            "value_cents": (yuan_or_none(self.value.data) or 0) if kind is TemplateKind.CASH else 0,
            "percent_off": parse_zhe(self.discount.data or "") if kind is TemplateKind.PERCENT else None,
            "cap_cents": yuan_or_none(self.cap.data) if kind is TemplateKind.PERCENT else None,
            "dish_id": self.dish_id.data if is_free_dish else None,
            "min_spend_cents": yuan_or_none(self.min_spend.data) or 0,
            "category_ids": (self.category_ids.data or None) if not is_free_dish else None,
            "dish_ids": (self.dish_ids.data or None) if not is_free_dish else None,
            "valid_from": valid_from,
            "valid_until": valid_until,
            "valid_days": self.valid_days.data,
            "per_member_limit": self.per_member_limit.data,
            "is_transferable": bool(self.is_transferable.data),
            "max_transfer_chain": 1 if self.max_transfer_chain.data is None else self.max_transfer_chain.data,
            "is_stackable": bool(self.is_stackable.data),
        }

    def show_refusal(self, error: APIError) -> None:
        """Put the service's refusal beside the fields it is about, or above the form."""
        if error.error_code == "invalid_coupon_template":
            for problem in error.details.get("problems", []):
                name, message = _PROBLEMS.get(problem, (None, None))
                if name is None:
                    self.form_errors.append(f"{error.description} ({problem})")
                else:
                    field = self[name]
                    field.errors = [*field.errors, message]
            return
        self.form_errors.append(str(error.description))
        if error.error_code == "template_in_use":
            for name in error.details.get("fields", []):
                field = self[_TERM_FIELDS[name]]
                field.errors = [*field.errors, lazy_gettext("Cannot change: coupons were issued.")]


# --- issuing -----------------------------------------------------------------------------------

class IssueCouponForm(FlaskForm):
    # Not checked against the choices: the service answers for a template switched off meanwhile.
    template_id = SelectField(lazy_gettext("Coupon"), coerce=_optional_int, validate_choice=False,
                              validators=[DataRequired()])
    idempotency_key = HiddenField(validators=[DataRequired(), Regexp(KEY_RE)])

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.idempotency_key.data:
            self.idempotency_key.data = new_key()  # one key per form: a double submit issues once
